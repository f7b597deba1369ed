from __future__ import annotations

import pytest

from vvtvlib.core.errors import UsageError
from vvtvlib.station.schedule import (
    QueueEntry,
    advance,
    align,
    build_run,
    ffconcat,
    resolve_start,
)
from vvtvlib.station.state import Position

Q = [QueueEntry(1, "item-a", "p1", "s1", 10.0), QueueEntry(2, "item-b", "p2", "s1", 10.0),
     QueueEntry(3, "item-a", "p3", "s2", 10.0)]


def test_align_rounds_down_to_segment_boundaries() -> None:
    assert align(0, 2) == 0.0
    assert align(7.9, 2) == 6.0
    assert align(8.0, 2) == 8.0
    assert align(-3, 2) == 0.0


def test_resolve_start_prefers_the_entry_at_or_after_the_hint() -> None:
    hint = Position(2, "item-b", 4.0)
    pos = resolve_start(Q, "item-a", 5.0, hint, 2)
    assert (pos.queue_position, pos.item_id, pos.offset_s, pos.plan_id) == (3, "item-a", 4.0,
                                                                            "p3")
    assert resolve_start(Q, "item-a", None, None, 2).queue_position == 1


def test_resolve_start_without_item_uses_the_hint_or_the_queue_head() -> None:
    assert resolve_start(Q, None, None, Position(2, "item-b", 6.0), 2).offset_s == 6.0
    assert resolve_start(Q, None, None, None, 2).queue_position == 1
    with pytest.raises(UsageError, match="not in the queue"):
        resolve_start(Q, "nope", 0, None, 2)


def test_an_empty_queue_or_a_vanished_position_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="the queue is empty") as err:
        resolve_start([], None, None, None, 2)
    assert err.value.exit_code == 2
    with pytest.raises(UsageError, match="queue position 9 is not in the queue"):
        build_run(Q, Position(9, "item-z", 0.0), 2)


def test_an_offset_past_the_item_end_moves_to_the_next_entry() -> None:
    pos = resolve_start(Q, "item-b", 12.0, None, 2)
    assert (pos.queue_position, pos.offset_s) == (3, 2.0)


def test_advance_follows_the_queue_and_loops() -> None:
    assert advance(Q, Position(1, "item-a", 8.0), 2, 2).queue_position == 2
    end = advance(Q, Position(3, "item-a", 8.0), 4, 2)
    assert (end.queue_position, end.offset_s) == (1, 2.0)


def test_run_maps_timeline_to_entry_and_offset() -> None:
    run = build_run(Q, Position(1, "item-a", 6.0), 2, max_s=40)
    assert run.parts[0].inpoint_s == 6.0 and run.parts[0].length_s == 4.0
    assert run.position_at(0).offset_s == 6.0
    p = run.position_at(5.0)
    assert (p.queue_position, p.item_id, p.offset_s) == (2, "item-b", 1.0)
    assert run.length_s >= 40
    text = ffconcat(run, {"item-a": "/m/a.mp4", "item-b": "/m/b's.mp4"})
    assert text.splitlines()[:3] == ["ffconcat version 1.0", "file '/m/a.mp4'",
                                     "inpoint 6.000"]
    assert "file '/m/b'\\''s.mp4'" in text
    assert text.count("inpoint") == 1
