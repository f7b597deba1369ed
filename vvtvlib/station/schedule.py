"""Pure playout scheduling: from the queue and a start position to a broadcaster run.

A run is the sequence of (queue entry, in-point, length) the broadcaster plays from one
start; the timeline position of any HLS segment maps back to (entry, offset) exactly
because mezzanine keyframes, segment boundaries and allowed offsets are all multiples of
the segment length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vvtvlib.core.errors import UsageError

from .state import Position


@dataclass(frozen=True)
class QueueEntry:
    position: int
    item_id: str
    plan_id: str | None
    slot_id: str | None
    duration_s: float


@dataclass(frozen=True)
class RunPart:
    entry: QueueEntry
    inpoint_s: float
    length_s: float
    timeline_start_s: float


@dataclass(frozen=True)
class Run:
    parts: tuple[RunPart, ...]
    segment_s: float

    @property
    def length_s(self) -> float:
        return sum(p.length_s for p in self.parts)

    @property
    def start(self) -> Position:
        return position_in(self.parts[0], 0.0)

    def position_at(self, t: float) -> Position:
        """The position ``t`` seconds after the run started (clamped to the run)."""
        for part in self.parts:
            if t < part.timeline_start_s + part.length_s - 1e-6:
                return position_in(part, max(0.0, t - part.timeline_start_s))
        last = self.parts[-1]
        return position_in(last, last.length_s)


def position_in(part: RunPart, into: float) -> Position:
    e = part.entry
    return Position(e.position, e.item_id, round(part.inpoint_s + into, 3), e.slot_id, e.plan_id)


def align(offset_s: float, segment_s: float) -> float:
    """Round an offset down to a keyframe / segment boundary."""
    return float(math.floor(max(0.0, offset_s) / segment_s + 1e-9) * segment_s)


def resolve_start(entries: list[QueueEntry], item_id: str | None, offset_s: float | None,
                  hint: Position | None, segment_s: float) -> Position:
    """Turn an operator's (item, offset) or a stored position into a queue position.

    An item id alone is ambiguous (entries reuse items): the first entry with that item at
    or after the hinted queue position wins, else the first one in the queue.
    """
    if not entries:
        raise UsageError("the queue is empty")
    by_pos = {e.position: e for e in entries}
    if item_id is None:
        if hint is not None and hint.queue_position in by_pos:
            e = by_pos[hint.queue_position]
            off = hint.offset_s if offset_s is None else offset_s
        else:
            e, off = entries[0], offset_s or 0.0
    else:
        after = [e for e in entries if e.item_id == item_id
                 and (hint is None or e.position >= hint.queue_position)]
        anywhere = [e for e in entries if e.item_id == item_id]
        if not anywhere:
            raise UsageError(f"item {item_id!r} is not in the queue", actual=item_id)
        e = (after or anywhere)[0]
        off = offset_s or 0.0
    off = align(off, segment_s)
    if off >= e.duration_s:
        return advance(entries, Position(e.position, e.item_id, 0.0, e.slot_id, e.plan_id),
                       off, segment_s)
    return Position(e.position, e.item_id, off, e.slot_id, e.plan_id)


def _next_entry(entries: list[QueueEntry], pos: int) -> QueueEntry:
    later = [e for e in entries if e.position > pos]
    return later[0] if later else entries[0]  # the lab station loops its queue


def advance(entries: list[QueueEntry], start: Position, seconds: float,
            segment_s: float) -> Position:
    """The position ``seconds`` after ``start`` (aligned), following the queue order."""
    by_pos = {e.position: e for e in entries}
    e = by_pos.get(start.queue_position) or _next_entry(entries, start.queue_position)
    off = start.offset_s + seconds
    guard = 0
    while off >= e.duration_s - 1e-6:
        off -= e.duration_s
        e = _next_entry(entries, e.position)
        guard += 1
        if guard > 100_000:
            break
    off = align(off, segment_s)
    return Position(e.position, e.item_id, off, e.slot_id, e.plan_id)


def build_run(entries: list[QueueEntry], start: Position, segment_s: float,
              max_s: float = 7200.0) -> Run:
    by_pos = {e.position: e for e in entries}
    e = by_pos.get(start.queue_position)
    if e is None:
        raise UsageError(f"queue position {start.queue_position} is not in the queue",
                         actual=start.queue_position)
    parts: list[RunPart] = []
    t = 0.0
    inpoint = align(start.offset_s, segment_s)
    while t < max_s:
        length = e.duration_s - inpoint
        if length > 0:
            parts.append(RunPart(e, inpoint, length, t))
            t += length
        inpoint = 0.0
        e = _next_entry(entries, e.position)
    return Run(tuple(parts), segment_s)


def ffconcat(run: Run, paths: dict[str, str]) -> str:
    """The concat-demuxer script that plays ``run`` (``inpoint`` only where needed)."""
    lines = ["ffconcat version 1.0"]
    for part in run.parts:
        path = paths[part.entry.item_id].replace("'", "'\\''")
        lines.append(f"file '{path}'")
        if part.inpoint_s > 0:
            lines.append(f"inpoint {part.inpoint_s:.3f}")
    return "\n".join(lines) + "\n"
