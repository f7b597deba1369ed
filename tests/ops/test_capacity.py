"""Capacity: CPU sampling of real processes, the disk forecast lines, the encoder policy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vvtvlib.ops.capacity import (
    cpu_summary,
    disk_forecast,
    encoder_policy,
    memory_now,
    sample_pipelines,
)


def test_a_busy_process_shows_cpu_and_an_idle_one_does_not() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen(["sleep", "30"])
    try:
        s = sample_pipelines({"busy": lambda: [busy.pid], "idle": lambda: [idle.pid]},
                             seconds=1.6, interval_s=0.4)
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    rows = {r.pipeline: r for r in cpu_summary(s)}
    # a spinning process gets a share of a core even on a machine loaded many times over
    assert rows["busy"].samples >= 3 and rows["busy"].mean_pct > 5
    assert rows["idle"].p95_pct < 2


def test_the_disk_forecast_draws_the_80_and_90_percent_lines(tmp_path: Path) -> None:
    gb = 1024 ** 3
    f = disk_forecast(tmp_path, write_bps=gb / 86400, used_bytes=70 * gb, total_bytes=100 * gb)
    assert (f.days_to_alert, f.days_to_action, f.status) == (10.0, 20.0, "ok")
    past = disk_forecast(tmp_path, write_bps=1.0, used_bytes=85 * gb, total_bytes=100 * gb)
    assert past.status == "alert" and past.days_to_alert is None and past.days_to_action
    assert disk_forecast(tmp_path, 0.0).days_to_action is None  # no writes: never
    assert 0 < memory_now().ram_available_pct <= 100 and os.cpu_count()


def test_the_encoder_policy_needs_three_days_at_or_over_a_tenth_of_a_percent() -> None:
    assert encoder_policy([0.0002, 0.001, 0.0012, 0.0015]).triggered
    assert not encoder_policy([0.001, 0.0009, 0.002]).triggered
    short = encoder_policy([0.002, 0.003])
    assert not short.triggered and "only 2 of the 3 days" in short.action
