"""Routing state: per-provider counters and the hedge budget.

Every counter is updated under its own lock in one step (no read-modify-write across an
``await``), so concurrent requests never lose an update.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from vvtvlib.core.stats import percentile


@dataclass(frozen=True)
class StatsSnapshot:
    calls: int
    successes: int
    failures: int
    cancelled: int
    in_flight: int
    ewma_ms: float | None
    p50_ms: float | None
    p95_ms: float | None


class ProviderStats:
    ALPHA = 0.3

    def __init__(self, keep: int = 256, clock: Callable[[], float] = time.monotonic,
                 stale_after_s: float = 0.0) -> None:
        self._lock = threading.Lock()
        self.calls = self.successes = self.failures = self.cancelled = self.in_flight = 0
        self.ewma_ms: float | None = None
        self.observed_at: float | None = None  # when the estimate last took a sample
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._latencies: deque[float] = deque(maxlen=keep)

    def stale(self) -> bool:
        """No sample for ``stale_after_s`` (0: an estimate never goes stale)."""
        return bool(self.stale_after_s) and self.observed_at is not None and \
            self._clock() - self.observed_at >= self.stale_after_s

    def started(self) -> None:
        with self._lock:
            self.calls += 1
            self.in_flight += 1

    def succeeded(self, latency_ms: float) -> None:
        with self._lock:
            self.in_flight -= 1
            self.successes += 1
            self._latencies.append(latency_ms)
            self._observe(latency_ms)

    def failed(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.failures += 1

    def was_cancelled(self, elapsed_ms: float) -> None:
        """A cancelled call took at least ``elapsed_ms``: a lower bound feeds the estimate,
        so a provider that turned slow stops looking fastest."""
        with self._lock:
            self.in_flight -= 1
            self.cancelled += 1
            if self.ewma_ms is None or elapsed_ms > self.ewma_ms:
                self._observe(elapsed_ms)

    def _observe(self, ms: float) -> None:
        # a stale estimate says little about now: the fresh sample replaces it
        old = None if self.stale() else self.ewma_ms
        self.observed_at = self._clock()
        self.ewma_ms = ms if old is None else self.ALPHA * ms + (1 - self.ALPHA) * old

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            lat = list(self._latencies)
            return StatsSnapshot(self.calls, self.successes, self.failures, self.cancelled,
                                 self.in_flight, self.ewma_ms, percentile(lat, 50),
                                 percentile(lat, 95))


class HedgeBudget:
    """A token bucket: each request earns ``ratio`` tokens up to ``burst``; a hedge spends one.
    Over time hedges stay at most ``ratio`` of requests, so hedging cannot double the load."""

    def __init__(self, ratio: float, burst: float) -> None:
        self.ratio, self.burst = ratio, burst
        self.tokens = burst
        self.spent = self.refused = 0
        self._lock = threading.Lock()

    def earn(self) -> None:
        with self._lock:
            self.tokens = min(self.burst, self.tokens + self.ratio)

    def try_spend(self) -> bool:
        with self._lock:
            if self.tokens >= 1:
                self.tokens -= 1
                self.spent += 1
                return True
            self.refused += 1
            return False
