"""Freeze and thaw (seed M1 step 2), through the station control API.

``vvtvlib.station.api.freeze`` pauses the workers, drains, and freezes the queue (a drain
that runs out thaws the station and raises ``TimedOut``); ``thaw`` reverses every flag and is
safe to call any number of times. The ritual journals their records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vvtvlib.core.layout import StationLayout

if TYPE_CHECKING:
    from vvtvlib.station.api import Frozen, Thawed


def freeze(layout: StationLayout, timeout_s: float, poll_s: float = 0.25) -> Frozen:
    """Pause, wait for ``in_progress = 0`` (asking every ``poll_s``), freeze. On timeout:
    thaw, then ``TimedOut``."""
    from vvtvlib.station import api

    return api.freeze(layout, drain_timeout_s=timeout_s, poll_s=poll_s)


def thaw(layout: StationLayout) -> Thawed:
    """Every worker resumed and the queue unfrozen."""
    from vvtvlib.station import api

    return api.thaw(layout)
