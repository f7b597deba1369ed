"""Dashboards: built with grafana-foundation-sdk from the catalog; known names only."""

from __future__ import annotations

import json

from vvtvlib.ops.dashboards import dashboard_queries, unknown_names
from vvtvlib.ops.generate import REPO, generate

BOARDS = ("ops_overview", "streaming_health", "llm_pool", "api_health", "tenant_usage")


def _board(name: str) -> dict:
    return json.loads((REPO / "dashboards" / f"{name}.json").read_text())


def test_the_dashboards_exist_with_panels_and_queries() -> None:
    for name in BOARDS:
        board = _board(name)
        assert board["uid"] == f"vvtv-{name.replace('_', '-')}"
        assert board["panels"] and all(p["targets"] for p in board["panels"])
        assert board["templating"]["list"][0]["type"] == "datasource"


def test_every_slo_panel_is_on_its_dashboard() -> None:
    gen = generate()
    for svc, slo in gen.catalog.slos():
        titles = {p["title"] for p in _board(svc.dashboard)["panels"]}
        assert slo.panel in titles, (svc.dashboard, slo.panel)
    overview = {p["title"] for p in _board("ops_overview")["panels"]}
    assert sum(t.endswith("budget remaining") for t in overview) == 7


def test_the_seed_signals_are_shown() -> None:
    def exprs(name: str) -> str:
        return "\n".join(dashboard_queries((REPO / "dashboards" / f"{name}.json").read_text()))

    assert "stream_segment_age_seconds" in exprs("streaming_health")
    assert "stream_encoder_frames_total" in exprs("streaming_health")  # fps
    assert "stream_encoder_drops_total" in exprs("streaming_health")
    assert "stream_segment_bytes_total" in exprs("streaming_health")  # ingest bitrate
    pool = exprs("llm_pool")
    for name in ("llmpool_infer_duration_ms_bucket", "llmpool_cache_hits_total",
                 "llmpool_breaker_open_total", "llmpool_hedges_total"):
        assert name in pool
    api = exprs("api_health")
    for name in ("api_requests_total", "api_http_duration_ms_bucket", "api_rate_limited_total",
                 "api_quota_exceeded_total"):
        assert name in api
    assert "queue_buffer_duration_minutes" in exprs("ops_overview")


def test_queries_use_only_declared_metrics_and_generated_rules() -> None:
    gen = generate()
    for name in BOARDS:
        assert unknown_names(dashboard_queries(gen.files[f"dashboards/{name}.json"]),
                             gen.rules) == set(), name
    assert unknown_names(["sum(rate(llmpool_made_up_total[5m]))"], gen.rules) == {
        "llmpool_made_up_total"}
