"""The station as lockdown and resume see it: a small port, with the real adapter calling the
station's control and supervisor functions. Resume drives it in the seed's safe order."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from vvtvlib.core.layout import StationLayout

WORKERS: tuple[str, ...] = ("planner", "realizer", "discovery")


class StationPort(Protocol):
    def freeze(self) -> None:
        """Pause every worker and freeze the queue (persistent flags)."""

    def down(self) -> bool:
        """Stop everything; True when something was running."""

    def up_without_ingest(self, timeout_s: float) -> None: ...

    def resume_workers(self) -> None:
        """Unpause planner, realizer, discovery (in that order), then queue freeze off."""

    def start_broadcaster(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def playout_mark(self) -> int:
        """A position in the playout log; ``first_playout`` reads what comes after it."""

    def first_playout(self, mark: int, timeout_s: float) -> dict[str, Any] | None:
        """The first playout entry written after ``mark`` (None if none within the timeout)."""


@dataclass
class Station:
    """The real station (``vvtvlib.station``), imported when first used."""

    layout: StationLayout

    def _control(self) -> Any:
        from vvtvlib.station import control

        return control

    def _supervisor(self) -> Any:
        from vvtvlib.station import supervisor

        return supervisor

    def freeze(self) -> None:
        control = self._control()
        for worker in WORKERS:
            control.set_worker_paused(self.layout, worker, True)
        control.set_queue_frozen(self.layout, True)

    def down(self) -> bool:
        was_up = bool(_get(self._control().status(self.layout), "up", False))
        self._supervisor().station_down(self.layout)
        return was_up

    def up_without_ingest(self, timeout_s: float) -> None:
        self._supervisor().station_up(self.layout, timeout_s=timeout_s, ingest=False)

    def resume_workers(self) -> None:
        control = self._control()
        for worker in WORKERS:
            control.set_worker_paused(self.layout, worker, False)
        control.set_queue_frozen(self.layout, False)

    def start_broadcaster(self) -> None:
        self._control().broadcaster_start(self.layout)

    def status(self) -> dict[str, Any]:
        st = self._control().status(self.layout)
        return st.to_dict() if hasattr(st, "to_dict") else dict(st)


    def playout_mark(self) -> int:
        log = self.layout.broadcast / "playout.jsonl"
        return log.stat().st_size if log.exists() else 0

    def first_playout(self, mark: int, timeout_s: float) -> dict[str, Any] | None:
        log = self.layout.broadcast / "playout.jsonl"
        deadline = time.monotonic() + timeout_s
        while True:
            if log.exists() and log.stat().st_size > mark:
                with log.open("rb") as fh:
                    fh.seek(mark)
                    for raw in fh:
                        if raw.endswith(b"\n") and raw.strip():
                            with contextlib.suppress(ValueError):
                                return dict(json.loads(raw))
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.25)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)
