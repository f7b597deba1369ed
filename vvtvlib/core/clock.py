"""An injectable clock, so waits, expiries and guardians are testable without sleeping."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


@dataclass
class FakeClock:
    """A clock that only moves when told to (``sleep`` advances it)."""

    start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    elapsed: float = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += max(0.0, seconds)

    advance = sleep


def utc_iso(dt: datetime | None = None) -> str:
    """ISO-8601 UTC with a Z, second precision plus milliseconds."""
    dt = (dt or datetime.now(UTC)).astimezone(UTC)
    return dt.isoformat(timespec="milliseconds")[:-6] + "Z"  # "...+00:00" -> "...Z"


def stamp(dt: datetime | None = None) -> str:
    """The seed's snapshot stamp, ``YYYY-mm-dd_HHMMZ``."""
    dt = dt or datetime.now(UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%d_%H%MZ")


SYSTEM_CLOCK = SystemClock()
