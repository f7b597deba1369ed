"""The capacity measurement of the ``o4_capacity_drill``: a game-day lab under a light
signed load, each pipeline's CPU sampled, memory, the station's write rate and drop ratio
from Prometheus, and the disk forecast."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from vvtvlib.core.layout import StationLayout

from .capacity import (
    CpuRow,
    CpuSamples,
    DiskForecast,
    MemoryRow,
    cpu_summary,
    disk_forecast,
    memory_now,
    sample_pipelines,
)
from .obs import PromClient


@dataclass
class CapacityRun:
    samples: CpuSamples
    cpu: list[CpuRow]
    memory: MemoryRow
    disk: DiskForecast
    write_bps: float
    frames: float
    drops: float
    prom_cpu_pct: float | None
    load: dict[str, Any]


def _tree(pid: int) -> list[int]:
    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return []


def pipelines(root: Path) -> dict[str, Any]:
    """encoder: the station's FFmpeg; pool: the provider emulators; api: pool-api + nginx."""
    from vvtvlib.api.supervisor import read_state
    from vvtvlib.station.control import status

    def encoder() -> list[int]:
        st = status(StationLayout.at(root))
        if not st.pid:
            return []
        return [c.pid for c in psutil.Process(st.pid).children(recursive=True)
                if "ffmpeg" in c.name()]

    def children(*prefixes: str) -> list[int]:
        st = read_state(root)
        return [p for c in (st.children if st else []) if c.name.startswith(prefixes)
                for p in _tree(c.pid)]

    return {"encoder": encoder, "pool": lambda: children("emulator:"),
            "api": lambda: children("pool-api", "nginx")}


def measure_capacity(root: str | Path, prometheus_url: str, *, sample_s: float = 60,
                     interval_s: float = 2.0, rps: float = 5) -> CapacityRun:
    from vvtvlib.api.chaos import load_outcome, start_load

    root = Path(root).absolute()
    pipes = pipelines(root)
    counts = {k: len(f()) for k, f in pipes.items()}
    start_load(str(root), "capacity", seconds=sample_s, rps=rps)
    samples = sample_pipelines(pipes, sample_s, interval_s)
    load = load_outcome(str(root), "capacity")
    prom = PromClient(prometheus_url)
    span = f"{int(sample_s)}s"
    write_bps = prom.scalar("sum(rate(stream_segment_bytes_total[1m]))") or 0.0
    return CapacityRun(
        samples, cpu_summary(samples, counts), memory_now(),
        disk_forecast(StationLayout.at(root).storage, write_bps), write_bps,
        prom.scalar(f"sum(increase(stream_encoder_frames_total[{span}]))") or 0.0,
        prom.scalar(f"sum(increase(stream_encoder_drops_total[{span}]))") or 0.0,
        prom.scalar("sum(rate(process_cpu_seconds_total[30s])) * 100"), load)


__all__ = ["CapacityRun", "measure_capacity", "pipelines"]
