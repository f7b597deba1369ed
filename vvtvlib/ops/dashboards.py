"""Grafana dashboards built from the catalog with grafana-foundation-sdk (never hand JSON).

Each SLO puts its SLI panel (with the threshold drawn) on its service's dashboard under the
catalog's panel title; ``ops_overview`` shows every SLO's budget remaining and burn rate
(the generated metadata rules) plus the station's backlog and buffer. A few signal panels
per dashboard (the seed's "fps, drops", "cache hit, breaker, hedge rate", "rate-limit /
quota") are listed below as data. Every query may only use declared metric names or the
generated recording rules (``queries_use_known_names``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from vvtvlib.core import metric_names

from . import conventions as conv
from .catalog import Catalog, ServiceFile, Slo, slo_id
from .describe import sli_query
from .promql import metric_names_in, num, raw_error_ratio, window_value
from .rules import RuleSet

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
TITLES = {"ops_overview": "VVTV Ops Overview", "streaming_health": "VVTV Streaming Health",
          "llm_pool": "VVTV LLM Pool", "api_health": "VVTV API Health",
          "tenant_usage": "VVTV Tenant Usage"}


@dataclass(frozen=True)
class PanelSpec:
    title: str
    queries: tuple[tuple[str, str], ...]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat
    threshold: float | None = None
    description: str = ""


SIGNALS: dict[str, tuple[PanelSpec, ...]] = {
    "streaming_health": (
        PanelSpec("Encoder frames per second",
                  (("sum(rate(stream_encoder_frames_total[1m]))", "fps"),), "fps"),
        PanelSpec("Encoder drops and duplicates per second",
                  (("sum(rate(stream_encoder_drops_total[1m]))", "dropped"),
                   ("sum(rate(stream_encoder_dup_frames_total[1m]))", "duplicated")), "fps"),
        PanelSpec("Ingest bitrate (published segments)",
                  (("sum(rate(stream_segment_bytes_total[1m])) * 8", "bits/s"),), "bps"),
        PanelSpec("Encoder up and restarts",
                  (("max(stream_encoder_up)", "up"),
                   ("sum(increase(stream_encoder_restarts_total[1h]))", "restarts / 1 h")),
                  "short"),
    ),
    "llm_pool": (
        PanelSpec("Cache hit ratio",
                  (("sum(rate(llmpool_cache_hits_total[5m])) / (sum(rate(llmpool_cache_hits_total"
                    "[5m])) + sum(rate(llmpool_cache_misses_total[5m])))", "hit ratio"),),
                  "percentunit"),
        PanelSpec("Breaker opens per provider",
                  (("sum by (provider) (increase(llmpool_breaker_open_total[5m]))",
                    "{{provider}}"),), "short"),
        PanelSpec("Hedge rate",
                  (("sum(rate(llmpool_hedges_total[5m])) / sum(rate(llmpool_requests_total[5m]))",
                    "hedged share"),), "percentunit"),
        PanelSpec("Timeouts per minute by provider",
                  (("sum by (provider) (rate(llmpool_timeouts_total[1m])) * 60",
                    "{{provider}}"),), "short", threshold=10),
        PanelSpec("Infer p95 by provider",
                  (("histogram_quantile(0.95, sum by (le, provider) "
                    "(rate(llmpool_infer_duration_ms_bucket[5m])))", "{{provider}}"),), "ms",
                  threshold=1500),
    ),
    "api_health": (
        PanelSpec("p95 by route (all routes)",
                  (("histogram_quantile(0.95, sum by (le, route) "
                    "(rate(api_http_duration_ms_bucket[5m])))", "{{route}}"),), "ms"),
        PanelSpec("Requests by code",
                  (("sum by (code) (rate(api_requests_total[1m]))", "{{code}}"),), "reqps"),
        PanelSpec("Rate limited and quota exceeded",
                  (("sum(rate(api_rate_limited_total[5m]))", "rate limited (429)"),
                   ("sum(rate(api_quota_exceeded_total[5m]))", "quota exceeded (402)")),
                  "reqps"),
        PanelSpec("Requests by route and code",
                  (("sum by (route, code) (rate(api_requests_total[5m]))",
                    "{{route}} {{code}}"),), "reqps"),
        PanelSpec("Breaker opens (pool behind the API)",
                  (("sum by (provider) (increase(llmpool_breaker_open_total[5m]))",
                    "{{provider}}"),), "short", threshold=1),
        PanelSpec("Pool outcomes behind /v1/infer",
                  (("sum by (outcome) (rate(llmpool_requests_total[5m]))", "{{outcome}}"),),
                  "reqps"),
    ),
    "tenant_usage": (
        PanelSpec("Requests per tenant",
                  (("sum by (tenant_id) (rate(api_http_duration_ms_count[5m]))",
                    "{{tenant_id}}"),), "reqps"),
        PanelSpec("p95 latency per tenant",
                  (("histogram_quantile(0.95, sum by (le, tenant_id) "
                    "(rate(api_http_duration_ms_bucket[5m])))", "{{tenant_id}}"),), "ms",
                  threshold=1200),
        PanelSpec("Rate limited per tenant (429)",
                  (("sum by (tenant_id) (rate(api_rate_limited_total[5m]))",
                    "{{tenant_id}}"),), "reqps"),
        PanelSpec("Quota exceeded per tenant (402)",
                  (("sum by (tenant_id) (increase(api_quota_exceeded_total[1h]))",
                    "{{tenant_id}}"),), "short"),
        PanelSpec("Top 10 tenants by requests (24 h)",
                  (("topk(10, sum by (tenant_id) (increase(api_http_duration_ms_count[24h])))",
                    "{{tenant_id}}"),), "short", kind="stat"),
        PanelSpec("Time per tenant (share of API time)",
                  (("sum by (tenant_id) (rate(api_http_duration_ms_sum[5m])) / "
                    "scalar(sum(rate(api_http_duration_ms_sum[5m])))",
                    "{{tenant_id}}"),), "percentunit"),
    ),
    "ops_overview": (
        PanelSpec("Worker jobs in progress",
                  (("sum by (worker) (station_worker_in_progress)", "{{worker}}"),), "short"),
        PanelSpec("Worker jobs per minute",
                  (("sum by (worker, status) (rate(station_worker_jobs_total[5m])) * 60",
                    "{{worker}} {{status}}"),), "short"),
    ),
}


def _unit(svc: ServiceFile, slo: Slo) -> str:
    if slo.sli.kind == "ratio" or (slo.sli.value and slo.sli.value.type == "counter_ratio"):
        return "percentunit"
    series = slo.sli.value.series if slo.sli.value else None
    metric = metric_names.BY_NAME.get(series.metric) if series else None
    if metric and metric.name.endswith("_ms"):
        return "ms"
    if metric and metric.name.endswith("_seconds"):
        return "s"
    if metric and metric.name.endswith("_minutes"):
        return "m"
    return "short"


def slo_panel(svc: ServiceFile, slo: Slo) -> PanelSpec:
    sli = slo.sli
    if sli.kind == "ratio":
        expr, thr = raw_error_ratio(sli, "5m"), None
    else:
        assert sli.value is not None
        expr = window_value(sli.value, "5m", sli.op)
        thr = float(sli.threshold) if sli.threshold is not None else None
    return PanelSpec(slo.panel, ((expr, slo.title),), _unit(svc, slo), threshold=thr,
                     description=f"SLO {slo_id(svc, slo)}: objective {num(slo.objective)} % "
                     f"over {slo.window}. SLI: {sli_query(slo)}")


def overview_panels(catalog: Catalog) -> list[PanelSpec]:
    out = []
    for svc, slo in catalog.slos():
        if slo.sli.kind == "zero":
            continue
        sel = "{" + f'{conv.LABEL_ID}="{slo_id(svc, slo)}"' + "}"
        out.append(PanelSpec(f"{slo.title}: budget remaining",
                             ((f"{conv.PERIOD_BUDGET_REMAINING}{sel}", "remaining"),),
                             "percentunit", kind="stat", threshold=0.0))
    out.append(PanelSpec("Burn rate now (all SLOs)",
                         ((f"{conv.CURRENT_BURN_RATE}", "{{sloth_id}}"),), "short", threshold=1))
    return out


def panel_specs(catalog: Catalog) -> dict[str, list[PanelSpec]]:
    boards: dict[str, list[PanelSpec]] = {name: [] for name in TITLES}
    boards["ops_overview"] += overview_panels(catalog)
    for svc, slo in catalog.slos():
        boards.setdefault(svc.dashboard, []).append(slo_panel(svc, slo))
    for name, extra in SIGNALS.items():
        boards.setdefault(name, []).extend(extra)
    return boards


def _thresholds(value: float | None) -> dash.ThresholdsConfig:
    steps = [model.Threshold(None, "green")]
    if value is not None:
        steps.append(model.Threshold(value, "red"))
    return dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


def build_panel(spec: PanelSpec, i: int) -> timeseries.Panel | stat.Panel:
    panel: timeseries.Panel | stat.Panel = stat.Panel() if spec.kind == "stat" \
        else timeseries.Panel()
    panel = panel.title(spec.title).unit(spec.unit).datasource(DATASOURCE) \
        .grid_pos(model.GridPos(h=8, w=12, x=(i % 2) * 12, y=(i // 2) * 8)) \
        .thresholds(_thresholds(spec.threshold))
    if spec.description:
        panel = panel.description(spec.description)
    for j, (expr, legend) in enumerate(spec.queries):
        panel = panel.with_target(prometheus.Dataquery().expr(expr).legend_format(legend)
                                  .ref_id(chr(ord("A") + j)).datasource(DATASOURCE))
    return panel


def build_dashboard(name: str, specs: list[PanelSpec]) -> str:
    board = dash.Dashboard(TITLES.get(name, name)).uid(f"vvtv-{name.replace('_', '-')}") \
        .tags(["vvtv", "slo", "generated"]).refresh("30s").time("now-6h", "now") \
        .timezone("utc").with_variable(
            dash.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    for i, spec in enumerate(specs):
        board = board.with_panel(build_panel(spec, i))
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


API_BOARDS = ("api_health", "tenant_usage")  # what `vvtvctl api init` writes to a root


def build_dashboards(catalog: Catalog, rules: RuleSet) -> dict[str, str]:
    return {f"{name}.json": build_dashboard(name, specs)
            for name, specs in panel_specs(catalog).items()}


def api_dashboards(catalog: Catalog | None = None) -> dict[str, str]:
    """``api_health.json`` and ``tenant_usage.json``, as ``vvtvctl api init`` writes them to a
    station root (the same bytes as the repository's ``dashboards/``)."""
    if catalog is None:
        from .catalog import load_catalog
        from .generate import REPO

        catalog = load_catalog(REPO / conv.CATALOG_DIR)
    specs = panel_specs(catalog)
    return {f"{name}.json": build_dashboard(name, specs[name]) for name in API_BOARDS}


def dashboard_queries(text: str) -> list[str]:
    """Every PromQL expression of a dashboard JSON."""
    data = json.loads(text)
    return [t["expr"] for p in data.get("panels", []) for t in p.get("targets", [])
            if "expr" in t]


def unknown_names(queries: list[str], rules: RuleSet) -> set[str]:
    """Names the queries select that are neither declared metrics nor generated rules."""
    known = metric_names.declared_series() | {
        r.record for g in rules.groups for r in g.rules if r.record}
    return {n for q in queries for n in metric_names_in(q)} - known
