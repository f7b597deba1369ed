"""The few station operations a revival needs, each one call into the station control API
(``vvtvlib.station.api``), shaped as the revival report records them.

Start without ingest, start the broadcaster at a recorded position, reactivate the workers
with a discovery hold, stop.
"""

from __future__ import annotations

from typing import Any

import httpx

from vvtvlib.core.errors import CheckFailed, StationNotRunning
from vvtvlib.core.layout import StationLayout


def start_without_ingest(layout: StationLayout, timeout_s: float = 60.0) -> dict[str, Any]:
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
    return {**st.summary(), "status_http": resp.status_code}


def start_broadcaster(layout: StationLayout, item_id: str, offset_s: float, *,
                      plan_id: Any = None, slot_id: Any = None,
                      timeout_s: float = 60.0) -> dict[str, Any]:
    """Start ingest at the recorded (item, offset) of the recorded queue entry."""
    from vvtvlib.station import api

    started = api.start_at(layout, api.Cue(item_id, offset_s, plan_id, slot_id),
                           timeout_s=timeout_s)
    return {"item_id": item_id, "offset_s": offset_s, "queue_position": started.queue_position,
            "run_id": started.status.encoder_run_id, "hls_url": started.status.hls_url}


def hls_url(layout: StationLayout) -> str:
    from vvtvlib.station import api

    url = api.status(layout).hls_url
    if not url:
        raise StationNotRunning("the revived station serves no HLS URL", path=layout.root)
    return url


def segment_seconds(layout: StationLayout) -> float:
    from vvtvlib.station import api

    return api.segment_seconds(layout)


def reactivate(layout: StationLayout, discovery_hold_h: float) -> dict[str, Any]:
    """Planner and realizer resume, queue freeze off; discovery held for ``discovery_hold_h``
    (a timed hold the station honours, so the buffer is rebuilt before new content comes)."""
    from vvtvlib.station import api

    st = api.reactivate(layout, discovery_hold_h)
    return {"paused": st.paused, "queue_frozen": st.queue_frozen,
            "discovery_hold_until": st.discovery_hold_until,
            "flags_applied": st.flags_applied}


def stop(layout: StationLayout) -> dict[str, Any]:
    from vvtvlib.station import api

    return api.down(layout)
