"""The station control API: what the ritual, the hibernation and the revival may do to a
station, and the only station calls they make.

    status(layout) -> StationStatus          what the station is doing (up or down)
    freeze(layout, drain_timeout_s=None)     workers paused, (drained,) queue frozen
    thaw(layout)                             queue unfrozen, workers resumed
    up(layout, timeout_s, ingest=True)       supervisor up; ``down(layout)`` stops it
    start_without_ingest(layout, timeout_s)  supervisor up, broadcaster held off
    start_at(layout, cue=None)               broadcaster started at a recorded (item, offset),
                                             or at the resume point; ``stop_ingest`` stops it
    reactivate(layout, discovery_hold_h=24)  workers back, discovery held for a while
    restart_encoder(layout)                  the encoder restarted, nginx left running
    inject_emergency(layout, count, reason)  the emergency loop appended to the queue
    playout_mark / first_playout / find_playout / read_playout   the playout log

Every flag lives in ``data/control.sqlite`` and is set through ``control``'s idempotent
commands (pushed to the supervisor when it is up); nothing here writes a business database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.errors import CheckFailed, StationNotRunning, TimedOut
from vvtvlib.core.layout import StationLayout

from . import control, supervisor
from .config import load_station_config
from .control import SUMMARY_FIELDS, StationStatus, as_layout
from .db import opened
from .playout import (
    PlayoutEntry,
    find_entry,
    first_after,
    playout_mark,
    read_playout,
)
from .replies import EmergencyInjected, EncoderRestarted, IngestStopped
from .state import WORKERS, ControlStore, Position, ResumePoint
from .supervisor import StationStopped


def restart_encoder(layout: StationLayout | str | Path) -> EncoderRestarted:
    return control.restart_encoder(layout)


def inject_emergency(layout: StationLayout | str | Path, count: int, reason: str
                     ) -> EmergencyInjected:
    return control.inject_emergency(layout, count, reason)


def status(layout: StationLayout | str | Path) -> StationStatus:
    """What the station is doing; works (with ``up=False``) when it is down."""
    return control.status(layout)


# ------------------------------------------------------------------ freeze and thaw
@dataclass(frozen=True)
class Frozen:
    paused: tuple[str, ...]
    queue_frozen: bool
    drain_wait_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"paused": list(self.paused), "queue_frozen": self.queue_frozen}
        if self.drain_wait_s is not None:
            out["drain_wait_s"] = self.drain_wait_s
        return out


@dataclass(frozen=True)
class Thawed:
    resumed: tuple[str, ...]
    queue_frozen: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"resumed": list(self.resumed), "queue_frozen": self.queue_frozen}


def freeze(layout: StationLayout | str | Path, drain_timeout_s: float | None = None, *,
           poll_s: float = 0.25, clock: Clock = SYSTEM_CLOCK) -> Frozen:
    """Pause every worker, then freeze the queue (persistent flags; works on a station that
    is down). With ``drain_timeout_s`` the running station must first reach
    ``in_progress = 0``: pausing first means no job starts, so the count only goes down. A
    drain that runs out thaws the station and raises ``TimedOut``."""
    layout = as_layout(layout)
    for worker in WORKERS:
        control.set_worker_paused(layout, worker, True)
    waited = None
    if drain_timeout_s is not None:
        t0 = clock.monotonic()
        try:
            control.wait_empty(layout, drain_timeout_s, clock=clock, poll_s=poll_s)
        except TimedOut:
            thaw(layout)
            raise
        waited = round(clock.monotonic() - t0, 3)
    control.set_queue_frozen(layout, True)
    return Frozen(WORKERS, True, waited)


def thaw(layout: StationLayout | str | Path) -> Thawed:
    """Queue unfrozen, then planner, realizer and discovery resumed. Idempotent."""
    layout = as_layout(layout)
    control.set_queue_frozen(layout, False)
    for worker in WORKERS:
        control.set_worker_paused(layout, worker, False)
    return Thawed(WORKERS)


def reactivate(layout: StationLayout | str | Path, discovery_hold_h: float = 24.0, *,
               clock: Clock = SYSTEM_CLOCK) -> StationStatus:
    """Discovery held for ``discovery_hold_h`` hours (a timed hold the station honours, so
    the buffer is rebuilt before new content comes), queue unfrozen, planner and realizer
    resumed; ``CheckFailed`` when the station does not report those flags."""
    layout = as_layout(layout)
    control.set_discovery_hold(layout, clock.now() + timedelta(hours=discovery_hold_h))
    control.set_worker_paused(layout, "discovery", False)
    control.set_queue_frozen(layout, False)
    control.set_worker_paused(layout, "planner", False)
    control.set_worker_paused(layout, "realizer", False)
    st = control.status(layout)
    if any(st.paused.get(w) for w in ("planner", "realizer")) or st.queue_frozen:
        raise CheckFailed("the station did not take the reactivation flags",
                          actual=st.summary())
    return st


# ------------------------------------------------------------------ up, down, start at
def up(layout: StationLayout | str | Path, timeout_s: float = 60.0, *, ingest: bool = True
       ) -> StationStatus:
    return supervisor.station_up(layout, timeout_s=timeout_s, ingest=ingest)


def down(layout: StationLayout | str | Path, timeout_s: float = 30.0) -> StationStopped:
    return supervisor.station_down(layout, timeout_s=timeout_s)


def start_without_ingest(layout: StationLayout | str | Path, timeout_s: float = 60.0
                         ) -> StationStatus:
    """Supervisor and HTTP (or nginx) up with the broadcaster desired off, so ingest waits
    until ``start_at``; the status must carry a ``/status`` URL."""
    layout = as_layout(layout)
    ControlStore(layout).set({"broadcaster": {"desired": "off"}}, command="revival: no ingest")
    st = supervisor.station_up(layout, timeout_s=timeout_s, ingest=False)
    if not st.status_url:
        raise StationNotRunning("the revived station reports no /status URL", path=layout.root)
    return st


@dataclass(frozen=True)
class Cue:
    """Where to start playing: an item and an offset, and the plan and slot it aired in
    (item ids repeat across queue entries; plan and slot pick the entry)."""

    item_id: str
    offset_s: float
    plan_id: str | None = None
    slot_id: str | None = None


@dataclass(frozen=True)
class Started:
    cue: Cue | None
    queue_position: int | None
    status: StationStatus


def queue_position_of(layout: StationLayout, cue: Cue) -> int | None:
    """The first queue entry with the cue's item, plan and slot."""
    with opened(layout.db("queue"), readonly=True) as conn:
        row = conn.execute("SELECT position FROM queue WHERE item_id=? AND plan_id IS ? AND "
                           "slot_id IS ? ORDER BY position LIMIT 1",
                           (cue.item_id, cue.plan_id, cue.slot_id)).fetchone()
    return int(row[0]) if row else None


def start_at(layout: StationLayout | str | Path, cue: Cue | None = None, *,
             timeout_s: float = 30.0, clock: Clock = SYSTEM_CLOCK) -> Started:
    """Start ingest at the cue's queue entry and offset (rounded down to a segment boundary
    by the supervisor), or with no cue at the recorded resume point; returns once the run's
    first segment is served."""
    layout = as_layout(layout)
    control.require_up(layout)  # refuse before pinning anything
    position = None if cue is None else queue_position_of(layout, cue)
    if cue is not None and position is not None:
        # The supervisor resolves an item id from its resume hint: pin the exact entry.
        resume = Position(position, cue.item_id, cue.offset_s, cue.slot_id, cue.plan_id)
        ControlStore(layout).set({"resume": {**resume.to_dict(),
                                             "recorded_utc": utc_iso(clock.now())}},
                                 command="revival: resume at the recorded position")
    st = control.broadcaster_start(layout, None if cue is None else cue.item_id,
                                   None if cue is None else cue.offset_s, timeout_s=timeout_s)
    return Started(cue, position, st)


def stop_ingest(layout: StationLayout | str | Path, timeout_s: float = 15.0
                ) -> IngestStopped:
    """Stop the broadcaster gracefully (last segment flushed); the recorded resume point."""
    return control.broadcaster_stop(layout, timeout_s)


def segment_seconds(layout: StationLayout | str | Path) -> float:
    return float(load_station_config(as_layout(layout)).media.segment_s)


# ------------------------------------------------------------------ the playout log
def first_playout(layout: StationLayout | str | Path, mark: int, timeout_s: float, *,
                  clock: Clock = SYSTEM_CLOCK) -> PlayoutEntry | None:
    """The first playout entry written after ``mark`` (None if none within the timeout)."""
    return first_after(as_layout(layout), mark, timeout_s, clock=clock)


__all__ = ["SUMMARY_FIELDS", "WORKERS", "Cue", "EmergencyInjected", "EncoderRestarted",
           "Frozen", "IngestStopped", "PlayoutEntry", "ResumePoint", "Started",
           "StationStatus", "StationStopped", "Thawed", "down", "find_entry",
           "first_playout", "freeze", "inject_emergency", "playout_mark",
           "queue_position_of", "read_playout", "reactivate", "restart_encoder",
           "segment_seconds", "start_at", "start_without_ingest", "status",
           "stop_ingest", "thaw", "up"]
