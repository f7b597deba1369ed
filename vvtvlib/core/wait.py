"""The one deadline loop: call a probe until it answers, or give up with ``TimedOut``.

    wait_until(probe, timeout_s, interval_s, clock=..., what="...") -> the probe's answer

The probe is called at least once, and once more at the deadline, so a condition that holds
when time runs out still counts. A probe that raises ends the wait with its own error. The
clock is injectable: with ``FakeClock`` a wait of an hour takes no time in a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .clock import SYSTEM_CLOCK, Clock
from .errors import TimedOut, VVTVError

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], timeout_s: float, interval_s: float = 0.25, *,
               clock: Clock = SYSTEM_CLOCK, what: str = "the condition",
               on_timeout: Callable[[], VVTVError] | None = None) -> T:
    """Return the first truthy answer of ``probe``; after ``timeout_s`` seconds raise
    ``on_timeout()`` when given, else ``TimedOut`` naming ``what`` in one sentence."""
    deadline = clock.monotonic() + timeout_s
    while True:
        answer = probe()
        if answer:
            return answer
        left = deadline - clock.monotonic()
        if left <= 0:
            if on_timeout is not None:
                raise on_timeout()
            raise TimedOut(f"gave up waiting for {what} after {timeout_s:g} s",
                           expected=what)
        clock.sleep(min(interval_s, left))


__all__ = ["wait_until"]
