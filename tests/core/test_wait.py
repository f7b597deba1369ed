"""The one deadline loop, on a fake clock: no test here sleeps."""

from __future__ import annotations

import pytest

from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import CheckFailed, TimedOut
from vvtvlib.core.wait import wait_until


def test_the_first_truthy_answer_is_returned() -> None:
    clock = FakeClock()
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), 10, 1, clock=clock) == "ready"
    assert clock.monotonic() == 3  # three waits of one interval, no more


def test_the_wait_ends_with_one_sentence_and_exit_4() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def never() -> None:
        calls.append(clock.monotonic())

    with pytest.raises(TimedOut) as exc:
        wait_until(never, 5, 2, clock=clock, what="the first segment")
    assert exc.value.exit_code == 4
    assert exc.value.message == "gave up waiting for the first segment after 5 s"
    # The probe runs at 0, 2, 4 and once more at the deadline (the last sleep is shortened).
    assert calls == [0, 2, 4, 5] and clock.monotonic() == 5


def test_a_condition_that_holds_at_the_deadline_counts() -> None:
    clock = FakeClock()
    assert wait_until(lambda: clock.monotonic() >= 5 and "late", 5, 2, clock=clock) == "late"


def test_the_caller_may_word_the_timeout_itself() -> None:
    with pytest.raises(TimedOut, match="3 job"):
        wait_until(lambda: False, 1, 0.5, clock=FakeClock(),
                   on_timeout=lambda: TimedOut("3 job(s) still in progress after 1 s"))


def test_a_probe_that_raises_ends_the_wait_with_its_error() -> None:
    clock = FakeClock()

    def broken() -> bool:
        if clock.monotonic() >= 2:
            raise CheckFailed("the supervisor exited")
        return False

    with pytest.raises(CheckFailed, match="supervisor exited"):
        wait_until(broken, 60, 1, clock=clock)
    assert clock.monotonic() == 2


def test_a_zero_timeout_still_asks_once() -> None:
    assert wait_until(lambda: 7, 0, clock=FakeClock()) == 7
    with pytest.raises(TimedOut):
        wait_until(lambda: None, 0, clock=FakeClock())
