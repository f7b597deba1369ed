"""The few station operations a revival needs, in one place (the station package owns them).

Start without ingest, read status, start the broadcaster at a recorded position, reactivate
the workers with a discovery hold, stop. Keeping them here keeps the revival phases readable
and gives the station one seam to change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.errors import CheckFailed, StationNotRunning
from vvtvlib.core.layout import StationLayout

STATUS_KEYS = ("up", "profile", "station_id", "hls_url", "status_url", "encoder_running",
               "paused", "queue_frozen", "discovery_hold_until", "queue_buffer_s",
               "broadcaster_desired", "playing", "worker_errors")


def summarise_status(status: Any) -> dict[str, Any]:
    data = status.to_dict() if hasattr(status, "to_dict") else dict(status)
    return {k: data[k] for k in STATUS_KEYS if k in data}


def start_without_ingest(layout: StationLayout, timeout_s: float = 60.0) -> dict[str, Any]:
    """HTTP (or nginx) and the supervisor up, the broadcaster off; ``/status`` must answer."""
    from vvtvlib.station.state import ControlStore
    from vvtvlib.station.supervisor import station_up

    # Ingest stays off until the continuity phase starts it at the recorded position.
    ControlStore(layout).set({"broadcaster": {"desired": "off"}}, command="revival: no ingest")
    st = station_up(layout, timeout_s=timeout_s, ingest=False)
    if not st.status_url:
        raise StationNotRunning("the revived station reports no /status URL", path=layout.root)
    try:
        resp = httpx.get(st.status_url, timeout=5)
    except httpx.HTTPError as exc:
        raise StationNotRunning(f"/status did not answer: {exc}", path=layout.root) from exc
    if resp.status_code != 200:
        raise CheckFailed(f"/status answered HTTP {resp.status_code}", path=st.status_url)
    return {**summarise_status(st), "status_http": resp.status_code}


def queue_position_of(layout: StationLayout, item_id: str, plan_id: Any, slot_id: Any
                      ) -> int | None:
    """The queue entry the recorded playout was on (item ids repeat across entries)."""
    from vvtvlib.station.db import opened

    with opened(layout.db("queue"), readonly=True) as conn:
        row = conn.execute("SELECT position FROM queue WHERE item_id=? AND plan_id IS ? AND "
                           "slot_id IS ? ORDER BY position LIMIT 1",
                           (item_id, plan_id, slot_id)).fetchone()
    return int(row[0]) if row else None


def start_broadcaster(layout: StationLayout, item_id: str, offset_s: float, *,
                      plan_id: Any = None, slot_id: Any = None,
                      timeout_s: float = 60.0) -> dict[str, Any]:
    """Start ingest at the recorded (item, offset) of the recorded queue entry."""
    from vvtvlib.station.control import broadcaster_start
    from vvtvlib.station.state import ControlStore

    position = queue_position_of(layout, item_id, plan_id, slot_id)
    if position is not None:
        # The supervisor resolves an item id from its resume hint: pin the exact entry.
        ControlStore(layout).set({"resume": {
            "queue_position": position, "item_id": item_id, "offset_s": offset_s,
            "slot_id": slot_id, "plan_id": plan_id, "recorded_utc": utc_iso()}},
            command="revival: resume at the recorded position")
    st = broadcaster_start(layout, item_id, offset_s, timeout_s=timeout_s)
    return {"item_id": item_id, "offset_s": offset_s, "queue_position": position,
            "run_id": st.encoder_run_id, "hls_url": st.hls_url}


def hls_url(layout: StationLayout) -> str:
    from vvtvlib.station.control import status

    url = status(layout).hls_url
    if not url:
        raise StationNotRunning("the revived station serves no HLS URL", path=layout.root)
    return url


def segment_seconds(layout: StationLayout) -> float:
    from vvtvlib.station.config import load_station_config

    return float(load_station_config(layout).media.segment_s)


def reactivate(layout: StationLayout, discovery_hold_h: float) -> dict[str, Any]:
    """Planner and realizer resume, queue freeze off; discovery held for ``discovery_hold_h``
    (a timed hold the station honours, so the buffer is rebuilt before new content comes)."""
    from vvtvlib.station.control import (
        set_discovery_hold,
        set_queue_frozen,
        set_worker_paused,
        status,
    )

    until = datetime.now(UTC) + timedelta(hours=discovery_hold_h)
    set_discovery_hold(layout, until)
    set_worker_paused(layout, "discovery", False)
    set_queue_frozen(layout, False)
    set_worker_paused(layout, "planner", False)
    set_worker_paused(layout, "realizer", False)
    st = status(layout)
    if any(st.paused.get(w) for w in ("planner", "realizer")) or st.queue_frozen:
        raise CheckFailed("the station did not take the reactivation flags",
                          actual=summarise_status(st))
    return {"paused": st.paused, "queue_frozen": st.queue_frozen,
            "discovery_hold_until": st.discovery_hold_until,
            "flags_applied": st.flags_applied}


def stop(layout: StationLayout) -> dict[str, Any]:
    from vvtvlib.station.supervisor import station_down

    return station_down(layout)
