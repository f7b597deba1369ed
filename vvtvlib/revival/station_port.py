"""The few station operations a revival needs, each one call into the station control API
(``vvtvlib.station.api``), returning typed records whose ``to_dict`` is what the revival
report records.

Start without ingest, start the broadcaster at a recorded position, reactivate the workers
with a discovery hold, stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from vvtvlib.core.errors import CheckFailed, StationNotRunning
from vvtvlib.core.layout import StationLayout

if TYPE_CHECKING:
    from vvtvlib.station.api import StationStatus, StationStopped


@dataclass(frozen=True)
class Serving:
    """The revived station answering ``/status`` with ingest off."""

    status: StationStatus
    status_http: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.status.summary(), "status_http": self.status_http}


@dataclass(frozen=True)
class BroadcasterStarted:
    """Ingest started at the recorded (item, offset) of the recorded queue entry."""

    item_id: str
    offset_s: float
    queue_position: int | None
    run_id: str | None
    hls_url: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "offset_s": self.offset_s,
                "queue_position": self.queue_position, "run_id": self.run_id,
                "hls_url": self.hls_url}


@dataclass(frozen=True)
class Reactivated:
    """The flags the station reports after the reactivation."""

    paused: dict[str, bool]
    queue_frozen: bool
    discovery_hold_until: str | None
    flags_applied: bool

    def to_dict(self) -> dict[str, Any]:
        return {"paused": dict(self.paused), "queue_frozen": self.queue_frozen,
                "discovery_hold_until": self.discovery_hold_until,
                "flags_applied": self.flags_applied}


def start_without_ingest(layout: StationLayout, timeout_s: float = 60.0) -> Serving:
    """HTTP (or nginx) and the supervisor up, the broadcaster off; ``/status`` must answer."""
    from vvtvlib.station import api

    # Ingest stays off until the continuity phase starts it at the recorded position.
    st = api.start_without_ingest(layout, timeout_s)
    assert st.status_url is not None  # start_without_ingest refuses a status without one
    try:
        resp = httpx.get(st.status_url, timeout=5)
    except httpx.HTTPError as exc:
        raise StationNotRunning(f"/status did not answer: {exc}", path=layout.root) from exc
    if resp.status_code != 200:
        raise CheckFailed(f"/status answered HTTP {resp.status_code}", path=st.status_url)
    return Serving(st, resp.status_code)


def start_broadcaster(layout: StationLayout, item_id: str, offset_s: float, *,
                      plan_id: str | None = None, slot_id: str | None = None,
                      timeout_s: float = 60.0) -> BroadcasterStarted:
    """Start ingest at the recorded (item, offset) of the recorded queue entry."""
    from vvtvlib.station import api

    started = api.start_at(layout, api.Cue(item_id, offset_s, plan_id, slot_id),
                           timeout_s=timeout_s)
    return BroadcasterStarted(item_id, offset_s, started.queue_position,
                              started.status.encoder_run_id, started.status.hls_url)


def hls_url(layout: StationLayout) -> str:
    from vvtvlib.station import api

    url = api.status(layout).hls_url
    if not url:
        raise StationNotRunning("the revived station serves no HLS URL", path=layout.root)
    return url


def segment_seconds(layout: StationLayout) -> float:
    from vvtvlib.station import api

    return api.segment_seconds(layout)


def reactivate(layout: StationLayout, discovery_hold_h: float) -> Reactivated:
    """Planner and realizer resume, queue freeze off; discovery held for ``discovery_hold_h``
    (a timed hold the station honours, so the buffer is rebuilt before new content comes)."""
    from vvtvlib.station import api

    st = api.reactivate(layout, discovery_hold_h)
    return Reactivated(st.paused, st.queue_frozen, st.discovery_hold_until, st.flags_applied)


def stop(layout: StationLayout) -> StationStopped:
    from vvtvlib.station import api

    return api.down(layout)
