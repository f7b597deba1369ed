"""The soak: its time buckets and report from samples, and a short live run through the CLI
(a station, the API behind nginx, Prometheus, Alertmanager and the receiver)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.plugins.system import need_tool
from vvtvlib.api.loadtest import Sample, write_samples
from vvtvlib.ops.soak import SoakResult, bucket_seconds, render_report, soak_timeline


def _samples() -> list[Sample]:
    """60 s at 5 rps: the first 30 s fast, then slow, with two 502s at t = 45 s."""
    out = []
    for i in range(300):
        t = i / 5
        status = 502 if i in (225, 226) else 200
        out.append(Sample(t, "chaos", "expand_queries", status, 100.0 if t < 30 else 1500.0))
    return out


def test_buckets_show_where_the_run_went_wrong() -> None:
    assert bucket_seconds(7200) == 300 and bucket_seconds(20) == 10
    buckets = soak_timeline(_samples(), 60, p95_slo_ms=1200, max_5xx=0.005)
    assert [b.start_s for b in buckets] == [0, 10, 20, 30, 40, 50]
    assert [b.requests for b in buckets] == [50] * 6
    assert [b.within_slo for b in buckets] == [True, True, True, False, False, False]
    assert buckets[0].p95_ms == 100.0 and buckets[3].p95_ms == 1500.0
    assert buckets[4].rate_5xx == pytest.approx(2 / 50) and buckets[3].rate_5xx == 0


def test_the_report_carries_the_timeline_and_its_plot(tmp_path: Path) -> None:
    csv = write_samples(tmp_path / "soak.samples.csv", _samples())
    res = SoakResult(False, 61.2, 5, {"requests": 300, "p95_ms": 1500.0, "rate_5xx": 2 / 300,
                                    "status_counts": {"200": 298, "502": 2}},
                     {"p95_ms": 1480.0, "requests": 300, "5xx": 2, "rate_5xx": 2 / 300},
                     {"ApiLatencyHigh": 12}, samples_csv=str(csv), window_s=60)
    res = render_report(res, tmp_path / "out", stamp="T")
    md = (tmp_path / "out" / "soak-T.md").read_text()
    assert "**FAIL**" in md and "3 of 6 buckets missed the SLO" in md
    assert "worst p95 was 1500.0 ms at minute 0.5" in md and "![" in md
    assert Path(res.plot).stat().st_size > 10_000
    again = SoakResult.from_dict(json.loads((tmp_path / "out" / "soak-T.json").read_text()))
    assert again.timeline == res.timeline and len(again.timeline) == 6


@pytest.mark.system
@pytest.mark.station
@pytest.mark.timeout(420)
def test_a_short_live_soak_through_the_cli(tmp_path: Path) -> None:
    import subprocess

    need_tool("prometheus")
    need_tool("prometheus-alertmanager")
    need_tool("nginx")
    out = tmp_path / "reports"
    cmd = [sys.executable, "-m", "vvtvlib.cli.vvtvctl", "gameday", "soak", "--root",
           str(tmp_path / "lab"), "--duration", "20", "--rps", "5", "--out", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    res = SoakResult.from_dict(json.loads(proc.stdout))
    # 20 s at 5 rps: about 100 signed requests, counted by the clients
    assert 90 <= res.client["requests"] <= 101
    # Prometheus saw them too (increase() over a 25 s range of 5 s scrapes is approximate)
    assert res.prometheus["requests"] >= res.client["requests"] * 0.5
    assert len(res.timeline) == 2 and sum(b.requests for b in res.timeline) == \
        res.client["requests"]
    assert (proc.returncode == 0) == res.passed
    md = Path(res.report).read_text()
    assert ("**PASS**" if res.passed else "**FAIL**") in md and Path(res.plot).is_file()


def test_the_soak_refuses_a_rate_outside_5_to_10(tmp_path: Path) -> None:
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "vvtvlib.cli.vvtvctl", "gameday", "soak",
                           "--root", str(tmp_path / "lab"), "--rps", "50", "--duration", "5"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "between 5 and 10" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "lab").exists()
