"""A circuit breaker per provider: closed -> open -> half-open -> closed.

Closed: calls pass; it opens after ``failure_threshold`` consecutive failures, or when the
error rate over the last ``window_s`` reaches ``error_rate`` with at least ``min_calls``
calls in the window. Open: calls are refused until ``cooldown_s`` has passed. Half-open: one
probe call passes; its success closes the breaker, its failure opens it again. The clock is
injected, so the state machine is tested without sleeping. Transitions are kept for
timelines.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock

from .config import BreakerSettings


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Transition:
    at: float  # clock.monotonic()
    before: BreakerState
    after: BreakerState
    why: str


class CircuitBreaker:
    def __init__(self, settings: BreakerSettings | None = None, *, clock: Clock = SYSTEM_CLOCK,
                 on_open: Callable[[], None] | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self.clock = clock
        self.on_open = on_open
        self.transitions: list[Transition] = []
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._consecutive = 0
        self._window: deque[tuple[float, bool]] = deque()
        self._probe_in_flight = False
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------
    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._tick()
            return self._state

    def available(self) -> bool:
        """Would a call be let through now (without taking the half-open probe slot)?"""
        with self._lock:
            self._tick()
            return self._state is BreakerState.CLOSED or (
                self._state is BreakerState.HALF_OPEN and not self._probe_in_flight)

    def error_rate(self) -> float:
        with self._lock:
            self._trim()
            if not self._window:
                return 0.0
            return sum(1 for _, ok in self._window if not ok) / len(self._window)

    # -- calls -----------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Take permission for one call; False when the breaker refuses it."""
        with self._lock:
            self._tick()
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def release(self) -> None:
        """A permitted call ended without an outcome (cancelled): free the probe slot."""
        with self._lock:
            self._probe_in_flight = False

    def record_success(self) -> None:
        with self._lock:
            self._tick()
            self._window.append((self.clock.monotonic(), True))
            self._consecutive = 0
            if self._state is BreakerState.HALF_OPEN:
                self._probe_in_flight = False
                self._window.clear()
                self._move(BreakerState.CLOSED, "probe succeeded")

    def record_failure(self) -> None:
        opened = False
        with self._lock:
            self._tick()
            self._window.append((self.clock.monotonic(), False))
            self._consecutive += 1
            if self._state is BreakerState.HALF_OPEN:
                self._probe_in_flight = False
                opened = self._open("probe failed")
            elif self._state is BreakerState.CLOSED:
                self._trim()
                fails = sum(1 for _, ok in self._window if not ok)
                s = self.settings
                if self._consecutive >= s.failure_threshold:
                    opened = self._open(f"{self._consecutive} consecutive failures")
                elif len(self._window) >= s.min_calls and fails / len(self._window) >= s.error_rate:
                    opened = self._open(f"error rate {fails}/{len(self._window)} over "
                                        f"{s.window_s:g} s")
        if opened and self.on_open:
            self.on_open()

    # -- internals (lock held) -------------------------------------------------------------
    def _open(self, why: str) -> bool:
        self._opened_at = self.clock.monotonic()
        self._move(BreakerState.OPEN, why)
        return True

    def _move(self, to: BreakerState, why: str) -> None:
        if to is not self._state:
            self.transitions.append(Transition(self.clock.monotonic(), self._state, to, why))
            self._state = to

    def _tick(self) -> None:
        if (self._state is BreakerState.OPEN
                and self.clock.monotonic() - self._opened_at >= self.settings.cooldown_s):
            self._probe_in_flight = False
            self._move(BreakerState.HALF_OPEN, "cool-down over")

    def _trim(self) -> None:
        horizon = self.clock.monotonic() - self.settings.window_s
        while self._window and self._window[0][0] < horizon:
            self._window.popleft()
