"""The playout log ``broadcast/playout.jsonl``: one ``PlayoutEntry`` per aired HLS segment.

The broadcaster's tracker appends a line per new segment (sorted-key JSON); the ritual, the
hibernation resume and the revival read it back as ``PlayoutEntry`` records. A line being
written right now (torn, not yet JSON) is skipped by every reader.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import TimedOut
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.wait import wait_until

from .state import Position

PLAYOUT_LOG = "playout.jsonl"


@dataclass(frozen=True)
class PlayoutEntry:
    """One aired segment: where it sits in the queue, in its item, in the run."""

    item_id: str | None
    offset_s: float
    segment: str | None = None
    sequence: int | None = None
    duration_s: float | None = None
    queue_position: int | None = None
    slot_id: str | None = None
    plan_id: str | None = None
    program_date_time: str | None = None
    run_id: str | None = None
    timeline_s: float | None = None
    ts_utc: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlayoutEntry:
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        values["offset_s"] = float(values.get("offset_s") or 0.0)
        values.setdefault("item_id", None)
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    @classmethod
    def aired(cls, position: Position, *, segment: str, sequence: int, duration_s: float,
              program_date_time: str | None, run_id: str, timeline_s: float,
              ts_utc: str) -> PlayoutEntry:
        return cls(position.item_id, position.offset_s, segment, sequence, duration_s,
                   position.queue_position, position.slot_id, position.plan_id,
                   program_date_time, run_id, round(timeline_s, 3), ts_utc)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        extra = out.pop("extra")
        return {**out, **extra}

    def to_json(self) -> str:
        """The line written to the log (keys sorted, as the log has always been)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def segment_name(self) -> str | None:
        return None if self.segment is None else _name(self.segment)


def _name(segment: str) -> str:
    return segment.split("?", 1)[0].rsplit("/", 1)[-1]


def playout_log(layout: StationLayout) -> Path:
    return layout.broadcast / PLAYOUT_LOG


def _parse(raw: str | bytes) -> PlayoutEntry | None:
    try:
        obj = json.loads(raw)
    except ValueError:
        return None  # the line being written right now
    return PlayoutEntry.from_dict(obj) if isinstance(obj, dict) else None


def read_playout(layout: StationLayout, *, tail: int | None = None) -> list[PlayoutEntry]:
    """Every entry of the log (or the newest ``tail``), oldest first."""
    path = playout_log(layout)
    out: deque[PlayoutEntry] = deque(maxlen=tail)
    with contextlib.suppress(FileNotFoundError), path.open("rb") as fh:
        for raw in fh:
            entry = _parse(raw)
            if entry is not None:
                out.append(entry)
    return list(out)


def playout_mark(layout: StationLayout) -> int:
    """A position in the log; ``first_after`` reads what is written after it."""
    path = playout_log(layout)
    return path.stat().st_size if path.exists() else 0


def _first_complete_after(path: Path, mark: int) -> PlayoutEntry | None:
    if not path.exists() or path.stat().st_size <= mark:
        return None
    with path.open("rb") as fh:
        fh.seek(mark)
        for raw in fh:
            if raw.endswith(b"\n") and raw.strip():
                entry = _parse(raw)
                if entry is not None:
                    return entry
    return None


def first_after(layout: StationLayout, mark: int, timeout_s: float, *,
                clock: Clock = SYSTEM_CLOCK) -> PlayoutEntry | None:
    """The first complete entry written after ``mark`` (None if none within the timeout)."""
    path = playout_log(layout)
    try:
        return wait_until(lambda: _first_complete_after(path, mark), timeout_s, 0.25,
                          clock=clock, what="a new playout entry")
    except TimedOut:
        return None


def find_entry(layout: StationLayout, segment: str, timeout_s: float = 5.0, *,
               sequence: int | None = None, clock: Clock = SYSTEM_CLOCK
               ) -> PlayoutEntry | None:
    """The entry of ``segment`` (its item, offset, slot, plan), waiting briefly because a
    viewer can fetch a segment a moment before the tracker logs it.

    Segment names come back after a restart (nginx-rtmp numbers fragments per stream), so
    pass the segment's media ``sequence`` when known: only a line with both matches; the
    newest such line wins."""
    path = playout_log(layout)
    name = _name(segment)

    def look() -> PlayoutEntry | None:
        found = None
        with contextlib.suppress(FileNotFoundError), path.open() as fh:
            for line in fh:
                if name not in line:
                    continue
                entry = _parse(line)
                if entry is not None and entry.segment == name and (
                        sequence is None or entry.sequence == sequence):
                    found = entry
        return found

    try:
        return wait_until(look, timeout_s, 0.1, clock=clock, what=f"segment {name}")
    except TimedOut:
        return None


__all__ = ["PLAYOUT_LOG", "PlayoutEntry", "find_entry", "first_after", "playout_log",
           "playout_mark", "read_playout"]
