"""The supervisor's Prometheus metrics (the seed's names, ``vvtvlib.core.metric_names``).

``/metrics`` on the supervisor's HTTP port serves them (prometheus-client text format):
segment age and queue buffer are read at scrape time; encoder frames, drops and duplicates
come from FFmpeg's ``-progress`` output (``frame``, ``drop_frames``, ``dup_frames``, which
restart at zero with every encoder run: the counters add the deltas); published segments and
their bytes come from the playout tracker (FFmpeg reports no size for HLS); the planner cycle is
the duration of each real planning job; restarts and in-progress jobs come from the
supervisor and the worker gate.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterable
from typing import IO

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from vvtvlib.core import metric_names as mn
from vvtvlib.core.layout import StationLayout

from .state import WORKERS

STATION_METRICS: tuple[mn.MetricName, ...] = (
    mn.STREAM_SEGMENT_AGE, mn.STREAM_ENCODER_DROPS, mn.STREAM_ENCODER_DUPS,
    mn.STREAM_ENCODER_FRAMES, mn.STREAM_ENCODER_RESTARTS, mn.STREAM_ENCODER_UP,
    mn.STREAM_SEGMENTS, mn.STREAM_SEGMENT_BYTES,
    mn.QUEUE_BUFFER, mn.PLANNER_CYCLE, mn.WORKER_IN_PROGRESS, mn.WORKER_JOBS)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class StationMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.segment_age = mn.gauge(mn.STREAM_SEGMENT_AGE, r)
        self.drops = mn.counter(mn.STREAM_ENCODER_DROPS, r)
        self.dups = mn.counter(mn.STREAM_ENCODER_DUPS, r)
        self.frames = mn.counter(mn.STREAM_ENCODER_FRAMES, r)
        self.restarts = mn.counter(mn.STREAM_ENCODER_RESTARTS, r)
        self.encoder_up = mn.gauge(mn.STREAM_ENCODER_UP, r)
        self.segments = mn.counter(mn.STREAM_SEGMENTS, r)
        self.segment_bytes = mn.counter(mn.STREAM_SEGMENT_BYTES, r)
        self.queue_buffer = mn.gauge(mn.QUEUE_BUFFER, r)
        self.planner_cycle = mn.histogram(mn.PLANNER_CYCLE, r)
        self.in_progress = mn.gauge(mn.WORKER_IN_PROGRESS, r)
        self.jobs = mn.counter(mn.WORKER_JOBS, r)
        for w in WORKERS:
            for status in ("done", "failed"):
                self.jobs.labels(w, status)
        self.curator = mn.counter(mn.CURATOR_DECISIONS, r)
        for decision in ("apply", "advise"):
            self.curator.labels(decision)
        self.autopilot_rollbacks = mn.counter(mn.AUTOPILOT_ROLLBACKS, r)

    def bind(self, *, segment_age: Callable[[], float | None],
             queue_buffer_s: Callable[[], float], encoder_up: Callable[[], bool],
             in_progress: Callable[[], dict[str, int]]) -> None:
        """Values read at scrape time from the supervisor."""
        self.segment_age.set_function(lambda: _nan(segment_age()))
        self.queue_buffer.set_function(lambda: queue_buffer_s() / 60.0)
        self.encoder_up.set_function(lambda: 1.0 if encoder_up() else 0.0)
        for w in WORKERS:
            self.in_progress.labels(w).set_function(_reader(in_progress, w))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _reader(values: Callable[[], dict[str, int]], key: str) -> Callable[[], float]:
    return lambda: float(values().get(key, 0))


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


class ProgressReader:
    """Reads FFmpeg ``-progress`` key=value blocks from one encoder run and adds the deltas of
    ``frame``, ``drop_frames`` and ``dup_frames`` to the counters."""

    FIELDS = ("frame", "drop_frames", "dup_frames")

    def __init__(self, metrics: StationMetrics) -> None:
        self.metrics = metrics
        self.last = dict.fromkeys(self.FIELDS, 0)
        self.blocks = 0
        self.lock = threading.Lock()

    def feed(self, lines: Iterable[str]) -> None:
        block: dict[str, str] = {}
        for raw in lines:
            key, sep, value = raw.strip().partition("=")
            if not sep:
                continue
            block[key] = value
            if key == "progress":
                self.apply(block)
                block = {}

    def apply(self, block: dict[str, str]) -> None:
        counters = {"frame": self.metrics.frames, "drop_frames": self.metrics.drops,
                    "dup_frames": self.metrics.dups}
        with self.lock:
            self.blocks += 1
            for key in self.FIELDS:
                try:
                    value = int(block.get(key, "").strip())
                except ValueError:
                    continue
                delta = value - self.last[key]
                if delta > 0:
                    counters[key].inc(delta)
                self.last[key] = max(value, self.last[key])

    def follow(self, stream: IO[bytes]) -> threading.Thread:
        def run() -> None:
            with contextlib.suppress(OSError, ValueError):  # the pipe closed with the encoder
                self.feed(line.decode("utf-8", "replace") for line in stream)

        t = threading.Thread(target=run, name="ffmpeg-progress", daemon=True)
        t.start()
        return t


def metrics_url(layout: StationLayout) -> str:
    """The running station's ``/metrics`` URL."""
    from vvtvlib.core.errors import StationNotRunning

    from .runtime import read_runtime, supervisor_alive

    info = read_runtime(layout) if supervisor_alive(layout) else None
    if info is None:
        raise StationNotRunning(f"the station at {layout.root} is not running", path=layout.root)
    return info.status_url.rsplit("/", 1)[0] + "/metrics"
