"""The breaker's state machine, driven by a fake clock."""

from __future__ import annotations

from vvtvlib.core.clock import FakeClock
from vvtvlib.pool.breaker import BreakerState, CircuitBreaker
from vvtvlib.pool.config import BreakerSettings

S = BreakerSettings(failure_threshold=3, error_rate=0.5, window_s=10, min_calls=6, cooldown_s=5)


def test_opens_after_consecutive_failures_and_refuses_calls() -> None:
    opened: list[int] = []
    b = CircuitBreaker(S, clock=FakeClock(), on_open=lambda: opened.append(1))
    for _ in range(2):
        assert b.acquire()
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.acquire() and opened == [1]


def test_success_resets_the_consecutive_count() -> None:
    b = CircuitBreaker(S, clock=FakeClock())
    for _ in range(2):
        b.record_failure()
    b.record_success()
    for _ in range(2):
        b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_opens_on_error_rate_only_with_the_minimum_of_calls() -> None:
    clock = FakeClock()
    b = CircuitBreaker(S, clock=clock)
    for _ in range(2):  # 2 failures, 2 successes: 50 % but only 4 calls
        b.record_failure()
        b.record_success()
    assert b.state is BreakerState.CLOSED
    b.record_success()
    b.record_failure()  # 6 calls, 3 failures -> 50 %
    assert b.state is BreakerState.OPEN
    assert "error rate" in b.transitions[-1].why


def test_old_calls_leave_the_window() -> None:
    clock = FakeClock()
    b = CircuitBreaker(S, clock=clock)
    for _ in range(2):
        b.record_failure()
        b.record_success()
    clock.advance(11)
    for _ in range(5):
        b.record_success()
    b.record_failure()
    assert b.state is BreakerState.CLOSED and b.error_rate() < 0.5


def test_half_open_lets_one_probe_through_then_closes_on_success() -> None:
    clock = FakeClock()
    b = CircuitBreaker(S, clock=clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(4.9)
    assert b.state is BreakerState.OPEN and not b.available()
    clock.advance(0.1)
    assert b.state is BreakerState.HALF_OPEN
    assert b.acquire() and not b.acquire(), "only one probe at a time"
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.acquire()
    assert [t.after for t in b.transitions] == [BreakerState.OPEN, BreakerState.HALF_OPEN,
                                                BreakerState.CLOSED]


def test_a_failed_probe_opens_again_for_a_new_cool_down() -> None:
    clock = FakeClock()
    b = CircuitBreaker(S, clock=clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(5)
    assert b.acquire()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    clock.advance(4)
    assert b.state is BreakerState.OPEN
    clock.advance(1)
    assert b.state is BreakerState.HALF_OPEN


def test_a_cancelled_probe_frees_the_slot() -> None:
    clock = FakeClock()
    b = CircuitBreaker(S, clock=clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(5)
    assert b.acquire() and not b.acquire()
    b.release()
    assert b.acquire()
