"""The station as lockdown and resume see it: a small port, with the real adapter calling the
station control API (``vvtvlib.station.api``). Resume drives it in the seed's safe order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from vvtvlib.core.layout import StationLayout
from vvtvlib.station.state import WORKERS

if TYPE_CHECKING:
    from vvtvlib.station.api import PlayoutEntry, StationStatus

__all__ = ["WORKERS", "Station", "StationPort"]


class StationPort(Protocol):
    def freeze(self) -> None:
        """Pause every worker and freeze the queue (persistent flags)."""

    def down(self) -> bool:
        """Stop everything; True when something was running."""

    def up_without_ingest(self, timeout_s: float) -> None: ...

    def resume_workers(self) -> None:
        """Queue freeze off, planner, realizer, discovery unpaused."""

    def start_broadcaster(self) -> None: ...

    def status(self) -> StationStatus:
        """The station status (the resume report records its ``to_dict()``)."""

    def playout_mark(self) -> int:
        """A position in the playout log; ``first_playout`` reads what comes after it."""

    def first_playout(self, mark: int, timeout_s: float) -> PlayoutEntry | None:
        """The first playout entry written after ``mark`` (None if none within the timeout)."""


@dataclass
class Station:
    """The real station, through ``vvtvlib.station.api`` (imported when first used)."""

    layout: StationLayout

    def freeze(self) -> None:
        from vvtvlib.station import api

        api.freeze(self.layout)

    def down(self) -> bool:
        from vvtvlib.station import api

        was_up = api.status(self.layout).up
        api.down(self.layout)
        return was_up

    def up_without_ingest(self, timeout_s: float) -> None:
        from vvtvlib.station import api

        api.up(self.layout, timeout_s, ingest=False)

    def resume_workers(self) -> None:
        from vvtvlib.station import api

        api.thaw(self.layout)

    def start_broadcaster(self) -> None:
        from vvtvlib.station import api

        api.start_at(self.layout, timeout_s=30.0)

    def status(self) -> StationStatus:
        from vvtvlib.station import api

        return api.status(self.layout)

    def playout_mark(self) -> int:
        from vvtvlib.station import api

        return api.playout_mark(self.layout)

    def first_playout(self, mark: int, timeout_s: float) -> PlayoutEntry | None:
        from vvtvlib.station import api

        return api.first_playout(self.layout, mark, timeout_s)
