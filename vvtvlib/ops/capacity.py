"""Capacity: CPU per pipeline, memory, disk with its 80 % alert and 90 % action lines and a
forecast of when each is crossed, and the seed's scaling policy.

    sample_pipelines(pipelines, seconds, interval) -> CpuSamples   (psutil, per process tree)
    cpu_summary(samples) -> list[CpuRow]                            mean and p95 per pipeline
    memory_now() -> MemoryRow                                       free RAM and swap
    disk_forecast(path, write_bps) -> DiskForecast                  when 80 % / 90 % are crossed
    encoder_policy(drop_ratios, ...) -> Recommendation              the seed's encoder rule

Pipelines are named process sets: ``encoder`` (the station's FFmpeg), ``pool`` (the
provider emulators), ``api`` (pool-api and nginx). CPU is in percent of one core, sampled
with psutil (``cpu_times`` deltas of each process and its children); the write rate that
drives the disk forecast is the station's own (``stream_segment_bytes_total`` in
Prometheus) or any measured rate.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from vvtvlib.core.stats import percentile

ALERT_PCT = 80.0
ACTION_PCT = 90.0


@dataclass
class CpuSamples:
    interval_s: float
    series: dict[str, list[float]] = field(default_factory=dict)  # pipeline -> % of a core


@dataclass(frozen=True)
class CpuRow:
    pipeline: str
    processes: int
    mean_pct: float
    p95_pct: float
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def sample_pipelines(pipelines: dict[str, Callable[[], list[int]]], seconds: float,
                     interval_s: float = 1.0) -> CpuSamples:
    """Sample each pipeline's CPU every ``interval_s`` for ``seconds``. ``pipelines`` maps a
    name to a function giving its pids now (processes come and go: an encoder restarts)."""
    out = CpuSamples(interval_s, {name: [] for name in pipelines})
    last = {name: _cpu_s(f()) for name, f in pipelines.items()}
    t_last = time.monotonic()
    end = t_last + seconds
    while time.monotonic() < end:
        time.sleep(interval_s)
        now = time.monotonic()
        for name, f in pipelines.items():
            cur = _cpu_s(f())
            out.series[name].append(max(0.0, (cur - last[name]) / (now - t_last) * 100))
            last[name] = cur
        t_last = now
    return out


def cpu_summary(samples: CpuSamples, counts: dict[str, int] | None = None) -> list[CpuRow]:
    return [CpuRow(name, (counts or {}).get(name, 0),
                   round(sum(v) / len(v), 2) if v else 0.0,
                   round(percentile(v, 95) or 0.0, 2), len(v))
            for name, v in samples.series.items()]


@dataclass(frozen=True)
class MemoryRow:
    ram_total_mb: float
    ram_available_mb: float
    ram_available_pct: float
    swap_total_mb: float
    swap_free_mb: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def memory_now() -> MemoryRow:
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    mb = 1024 * 1024
    return MemoryRow(round(vm.total / mb), round(vm.available / mb),
                     round(vm.available / vm.total * 100, 1), round(sw.total / mb),
                     round(sw.free / mb))


@dataclass(frozen=True)
class DiskForecast:
    path: str
    total_gb: float
    used_gb: float
    used_pct: float
    write_bps: float
    days_to_alert: float | None  # None: never at this rate (or already past)
    days_to_action: float | None
    status: str  # ok | alert (>= 80 %) | action (>= 90 %)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def disk_forecast(path: str | Path, write_bps: float, *, used_bytes: float | None = None,
                  total_bytes: float | None = None) -> DiskForecast:
    """When the disk holding ``path`` reaches 80 % (the alert) and 90 % (the action) at a
    steady ``write_bps`` (bytes/s); ``used_bytes``/``total_bytes`` override the live
    numbers (a what-if)."""
    du = psutil.disk_usage(str(path))
    total = float(total_bytes if total_bytes is not None else du.total)
    used = float(used_bytes if used_bytes is not None else du.used)
    pct = used / total * 100

    def days(line: float) -> float | None:
        left = total * line / 100 - used
        if left <= 0 or write_bps <= 0:
            return None
        return round(left / write_bps / 86400, 2)

    status = "action" if pct >= ACTION_PCT else "alert" if pct >= ALERT_PCT else "ok"
    gb = 1024 ** 3
    return DiskForecast(str(path), round(total / gb, 2), round(used / gb, 2), round(pct, 2),
                        round(write_bps, 1), days(ALERT_PCT), days(ACTION_PCT), status)


@dataclass(frozen=True)
class Recommendation:
    policy: str
    observed: str
    triggered: bool
    action: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ENCODER_POLICY = "add an encoder instance if encoder drops touch 0.1 % for 3 days"


def encoder_policy(daily_drop_ratios: list[float], threshold: float = 0.001,
                   days: int = 3) -> Recommendation:
    """The seed's rule over per-day drop ratios (dropped / encoded frames), newest last:
    triggered when each of the last ``days`` days touched ``threshold``."""
    last = daily_drop_ratios[-days:]
    hit = len(last) == days and all(r >= threshold for r in last)
    shown = ", ".join(f"{r:.4%}" for r in last) or "no data"
    if hit:
        action = "add an encoder instance (the drops held at or above 0.1 % for 3 days)"
    elif len(last) < days:
        action = (f"no change: only {len(last)} of the {days} days the rule needs are "
                  "observed; keep watching")
    else:
        action = "no change: the drops stayed under 0.1 % on at least one of the last 3 days"
    return Recommendation(ENCODER_POLICY, f"daily drop ratios (newest last): {shown}", hit,
                          action)


__all__ = ["ACTION_PCT", "ALERT_PCT", "ENCODER_POLICY", "CpuRow", "CpuSamples",
           "DiskForecast", "MemoryRow", "Recommendation", "cpu_summary", "disk_forecast",
           "encoder_policy", "memory_now", "sample_pipelines"]
