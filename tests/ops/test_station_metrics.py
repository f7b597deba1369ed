"""The station's /metrics: the seed's names, from real sources (one live station)."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from tests.plugins.station import LabStation
from tests.plugins.system import need_tool
from tests.station.helpers import eventually
from vvtvlib.cli.vvtvctl import app
from vvtvlib.core import metric_names
from vvtvlib.ops import conventions as conv
from vvtvlib.ops.budget import budget_from_prometheus
from vvtvlib.ops.dashboards import dashboard_queries
from vvtvlib.ops.exporters import probe_exporter
from vvtvlib.ops.generate import REPO, generate
from vvtvlib.ops.prometheus import run_prometheus
from vvtvlib.ops.promql import metric_names_in
from vvtvlib.ops.samples import Recording, parse_exposition, scrape
from vvtvlib.station.metrics import STATION_METRICS, ProgressReader, StationMetrics, metrics_url


def _value(samples: list, name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x
                                                               for k, x in labels.items()))


def test_progress_blocks_add_deltas_across_runs() -> None:
    m = StationMetrics()
    first = ProgressReader(m)
    first.feed(io.StringIO("frame=10\ndrop_frames=0\ndup_frames=1\nprogress=continue\n"
                           "frame=25\ndrop_frames=2\ndup_frames=1\nprogress=end\n"))
    second = ProgressReader(m)  # a restarted encoder counts from zero again
    second.feed(["frame=5\n", "drop_frames=1\n", "dup_frames=0\n", "progress=continue\n"])
    samples = parse_exposition(m.render().decode())
    assert _value(samples, "stream_encoder_frames_total") == 30
    assert _value(samples, "stream_encoder_drops_total") == 3
    assert _value(samples, "stream_encoder_dup_frames_total") == 1


def test_station_metrics_are_declared_names() -> None:
    names = {s[0] for s in parse_exposition(StationMetrics().render().decode())}
    lab = {n for n in names if not n.endswith("_created")}
    assert lab <= metric_names.declared_series()
    assert {m.name for m in STATION_METRICS} >= {
        "stream_segment_age_seconds", "stream_encoder_drops_total",
        "queue_buffer_duration_minutes", "planner_cycle_duration_ms"}


@pytest.mark.station
@pytest.mark.system
@pytest.mark.timeout(240)
def test_a_live_station_exports_the_seed_metrics(
        station_factory: Callable[..., LabStation], tmp_path: Path) -> None:
    need_tool("prometheus")
    lab = station_factory()
    url = metrics_url(lab.layout)

    def ready() -> list | None:
        s = scrape(url)
        ok = (_value(s, "stream_encoder_frames_total") > 0
              and _value(s, "stream_segment_bytes_total") > _value(s, "stream_segments_total") > 0
              and _value(s, "planner_cycle_duration_ms_count") > 0)
        return s if ok else None

    samples = eventually(ready, timeout_s=60, every=1)
    age = _value(samples, "stream_segment_age_seconds")
    assert 0 <= age < 10
    assert _value(samples, "queue_buffer_duration_minutes") >= 60  # the lab queues >= 1 h
    assert _value(samples, "stream_encoder_up") == 1
    assert _value(samples, "stream_encoder_drops_total") >= 0

    # the live check every dashboard query must pass: the station's names are live, the
    # pool's and API's are the declared names their exporters use
    result = probe_exporter(url)
    assert result.ok, result.missing
    live = {s[0] for s in samples}
    station_names = {s for m in STATION_METRICS for s in m.series()}
    gen = generate(dashboards=True)
    for rel, text in gen.files.items():
        if not rel.endswith(".json"):
            continue
        for query in dashboard_queries(text):
            for name in metric_names_in(query):
                if name in station_names:
                    assert name in live, (rel, name)

    # the operator's view: `slo probe` and `slo record` against the running station
    runner = CliRunner()
    probed = runner.invoke(app, ["slo", "probe", "--root", str(lab.root), "--json"])
    assert probed.exit_code == 0 and json.loads(probed.stdout)[0]["ok"]
    out = tmp_path / "rec.jsonl"
    recorded = runner.invoke(app, ["slo", "record", "--root", str(lab.root), "--out", str(out),
                                   "--duration", "3", "--interval", "1"])
    assert recorded.exit_code == 0 and len(Recording.load(out).scrapes) >= 3

    # a real Prometheus scrapes it with the generated rules; the budget comes from it
    with run_prometheus([url], REPO / conv.RULES_FILE, tmp_path / "prom") as prom:
        n_rules = sum(len(g.rules) for g in gen.rules.groups)
        eventually(lambda: prom.rules_loaded() == n_rules, timeout_s=20)  # loads after ready
        eventually(lambda: prom.targets_up() == 1, timeout_s=20)
        cat = gen.catalog

        def measured() -> list | None:
            rows = {r.slo: r for r in budget_from_prometheus(cat, prom.url, "5m", "1s")}
            keys = ("streaming-segment-age", "streaming-encoder-drops",
                    "planner-selection-cycle", "planner-queue-starvation")
            return rows if all(rows[k].error_ratio is not None for k in keys) else None

        rows = eventually(measured, timeout_s=30, every=1)
        assert rows["streaming-segment-age"].remaining == 1.0  # a healthy station
        assert rows["planner-queue-starvation"].events == 0
        assert rows["pool-errors"].error_ratio is None  # no pool in this test

    # an encoder crash is counted as a restart
    st = lab.status()
    ffmpeg = [p for p in psutil.Process(st.pid).children() if "ffmpeg" in p.name()]
    assert ffmpeg
    os.kill(ffmpeg[0].pid, signal.SIGKILL)
    eventually(lambda: _value(scrape(url), "stream_encoder_restarts_total") == 1, timeout_s=30)
    # ... and logged in the seed's logs/streaming.jsonl with the standard fields
    lines = [json.loads(x) for x in
             (lab.layout.logs / "streaming.jsonl").read_text().splitlines()]
    assert all({"ts", "service", "severity", "msg", "trace_id", "span_id"} <= set(x)
               for x in lines)
    assert any(x["msg"] == "encoder exited; restarting" and x["severity"] == "WARNING"
               for x in lines)
    assert {x["service"] for x in lines} == {"streaming"}


def test_the_pool_registers_exactly_its_declared_names() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from vvtvlib.pool.metrics import PoolMetrics

    registry = CollectorRegistry()
    m = PoolMetrics(registry)
    m.infer_duration_ms.labels("phi3-mini", "judge").observe(1100)
    for counter, labels in ((m.timeouts, ("p", "judge")), (m.breaker_open, ("p",)),
                            (m.cache_hits, ("judge",)), (m.cache_misses, ("judge",)),
                            (m.hedges, ("judge",)), (m.provider_errors, ("p", "judge", "x")),
                            (m.requests, ("judge", "FASTEST", "ok"))):
        counter.labels(*labels).inc()
    samples = parse_exposition(generate_latest(registry).decode())
    found = {s[0] for s in samples}
    declared = {s for x in metric_names.for_service("pool") for s in x.series()}
    assert {n for n in found if not n.endswith("_created")} == declared
    buckets = {lab["le"] for n, lab, _ in samples if n.endswith("_bucket")}
    assert {"1200.0", "1500.0"} <= buckets  # the SLO and alert thresholds are exact
