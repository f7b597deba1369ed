"""Budgets from recorded samples: Prometheus's quantile arithmetic, and the budget spent."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vvtvlib.cli.vvtvctl import app
from vvtvlib.core.errors import ConfigError
from vvtvlib.ops.budget import budget_from_recording
from vvtvlib.ops.catalog import load_catalog
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.samples import Recording, Scrape, histogram_quantile, quantile, timeline

CATALOG = load_catalog(REPO / "ops" / "slo")
runner = CliRunner()


def test_quantile_interpolates_like_prometheus() -> None:
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6]
    for q in (0.0, 0.5, 0.95, 1.0):
        assert quantile(q, values) == pytest.approx(float(np.quantile(values, q)))
    assert math.isnan(quantile(0.5, []))


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    assert histogram_quantile(0.95, [(1000, 0), (1500, 60), (math.inf, 60)]) == 1475
    assert histogram_quantile(0.95, [(1200, 0), (1500, 60), (math.inf, 60)]) == 1485
    assert histogram_quantile(0.5, [(1, 10), (math.inf, 20)]) == 1  # rank in +Inf: last bound
    assert math.isnan(histogram_quantile(0.5, [(1, 0), (math.inf, 0)]))


def _recording(seconds: int, every: int, sample) -> Recording:  # type: ignore[no-untyped-def]
    return Recording([Scrape(float(t), sample(t)) for t in range(0, seconds + 1, every)])


def _station(age_after: float, t_bad: int, buffer_after: float = 60.0):  # type: ignore[no-untyped-def]
    def sample(t: int) -> list:
        late = t >= t_bad
        planner = [("planner_cycle_duration_ms_bucket", {"le": str(le)}, t / 4.0)
                   for le in (100.0, 500.0, 1000.0)] + [
            ("planner_cycle_duration_ms_bucket", {"le": "+Inf"}, t / 4.0)]
        return [("stream_segment_age_seconds", {}, age_after if late else 1.5),
                ("stream_encoder_frames_total", {}, 15.0 * t),
                ("stream_encoder_drops_total", {}, 0.0),
                ("queue_buffer_duration_minutes", {}, buffer_after if late else 60.0),
                *planner]
    return sample


def test_a_healthy_recording_spends_no_budget() -> None:
    rows = {r.slo: r for r in budget_from_recording(CATALOG, _recording(600, 5, _station(2, 0)))}
    age = rows["streaming-segment-age"]
    assert age.consumed == 0 and age.remaining == 1
    assert rows["planner-selection-cycle"].error_ratio == 0
    assert rows["planner-queue-starvation"].events == 0
    assert rows["api-errors"].error_ratio is None  # no API in this recording


def test_bad_windows_and_starvation_spend_budget() -> None:
    rec = _recording(1200, 5, _station(8.0, 600, buffer_after=20.0))
    points = timeline(CATALOG.find("streaming-segment-age")[1].sli, rec)
    first_bad = next(p.ts for p in points if p.bad)
    # the p95 over 5 minutes crosses 6 s once more than 5 % of the window's samples are 8 s
    assert 600 < first_bad < 600 + 30
    rows = {r.slo: r for r in budget_from_recording(CATALOG, rec)}
    age = rows["streaming-segment-age"]
    assert age.error_ratio == pytest.approx(sum(p.bad for p in points) / len(points))
    assert age.consumed == pytest.approx(age.error_ratio / 0.005)
    assert age.remaining is not None and age.remaining < 0  # overspent
    starved = rows["planner-queue-starvation"]
    assert starved.events == 1 and starved.consumed == 1 and starved.remaining == 0


def test_ratio_slos_count_events_and_handle_counter_resets() -> None:
    def sample(t: int) -> list:
        n = t if t < 300 else t - 300  # the API restarted at t=300: counters reset
        return [("api_requests_total", {"route": "/v1/infer", "code": "200"}, 99.0 * n),
                ("api_requests_total", {"route": "/v1/infer", "code": "502"}, 1.0 * n)]
    rows = {r.slo: r for r in budget_from_recording(CATALOG, _recording(600, 10, sample))}
    assert rows["api-errors"].error_ratio == pytest.approx(0.01)
    assert rows["api-errors"].consumed == pytest.approx(2.0)


def test_budget_cli_from_samples(tmp_path: Path) -> None:
    path = _recording(600, 5, _station(2, 0)).save(tmp_path / "rec.jsonl")
    result = runner.invoke(app, ["slo", "budget", "--samples", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["slo"]: r for r in json.loads(result.stdout)}
    assert rows["streaming-segment-age"]["remaining"] == 1.0
    assert runner.invoke(app, ["slo", "budget"]).exit_code == 2
    assert runner.invoke(app, ["slo", "budget", "--samples", str(path),
                               "--prometheus", "http://x"]).exit_code == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ConfigError, match="line 1"):
        Recording.load(bad)
    result = runner.invoke(app, ["slo", "budget", "--samples", str(bad)])
    assert result.exit_code == 2 and "line 1" in result.output


def test_an_unreachable_prometheus_is_one_sentence_exit_3() -> None:
    result = runner.invoke(app, ["slo", "budget", "--prometheus", "http://127.0.0.1:9"])
    assert result.exit_code == 3
    assert "cannot query Prometheus" in result.output and "Traceback" not in result.output
