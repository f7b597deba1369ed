"""Waiting between cycles. The real waiter watches the guarded folders (inotify through
``watchfiles``) and returns as soon as something changed, so a write that succeeded raises an
alert at once rather than at the next cycle; a failed write leaves no event. The clock waiter
only lets the injected clock pass (tests, and hosts where watching is switched off)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from vvtvlib.core.clock import Clock, SystemClock

Change = tuple[str, str]  # ("added" | "modified" | "deleted", absolute path)


class Waiter(Protocol):
    def wait(self, seconds: float) -> list[Change]:
        """Return after ``seconds``, early on a stop request, or early with the changes seen."""
        ...


class ClockWaiter:
    def __init__(self, clock: Clock, stop: threading.Event | None = None) -> None:
        self.clock = clock
        self.stop = stop or threading.Event()

    def wait(self, seconds: float) -> list[Change]:
        if isinstance(self.clock, SystemClock):
            self.stop.wait(max(0.0, seconds))
        else:
            self.clock.sleep(seconds)
        return []


class WatchWaiter:
    def __init__(self, folders: Sequence[Path], stop: threading.Event | None = None,
                 debounce_ms: int = 100) -> None:
        self.folders = [f for f in folders if f.is_dir()]
        self.stop = stop or threading.Event()
        self.debounce_ms = debounce_ms

    def wait(self, seconds: float) -> list[Change]:
        if seconds <= 0 or self.stop.is_set():
            return []
        if not self.folders:
            self.stop.wait(seconds)
            return []
        import watchfiles  # imported here: only the daemon needs the notify backend

        for changes in watchfiles.watch(
                *self.folders, watch_filter=None, debounce=self.debounce_ms, step=50,
                stop_event=self.stop, rust_timeout=max(1, int(seconds * 1000)),
                yield_on_timeout=True, raise_interrupt=False):
            return sorted((change.name, path) for change, path in changes)
        return []
