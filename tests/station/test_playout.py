"""Playout entries: the typed record reads and writes the log's lines byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from vvtvlib.core.clock import FakeClock
from vvtvlib.core.layout import StationLayout
from vvtvlib.station.playout import (
    PlayoutEntry,
    find_entry,
    first_after,
    playout_mark,
    read_playout,
)
from vvtvlib.station.state import Position

# A line as the broadcaster's tracker writes it.
LINE = ('{"duration_s": 2.0, "item_id": "item-0002", "offset_s": 6.0, "plan_id": "plan-1", '
        '"program_date_time": "2026-01-01T00:00:10.000Z", "queue_position": 3, '
        '"run_id": "run-1", "segment": "seg_000005.ts", "sequence": 5, "slot_id": "slot-1", '
        '"timeline_s": 10.0, "ts_utc": "2026-01-01T00:00:12.000Z"}')


def _layout(tmp_path: Path) -> StationLayout:
    layout = StationLayout.at(tmp_path)
    layout.broadcast.mkdir(parents=True)
    return layout


def test_a_log_line_round_trips_byte_for_byte() -> None:
    entry = PlayoutEntry.from_dict(json.loads(LINE))
    assert (entry.item_id, entry.offset_s, entry.queue_position, entry.sequence) == (
        "item-0002", 6.0, 3, 5)
    assert entry.to_json() == LINE
    made = PlayoutEntry.aired(Position(3, "item-0002", 6.0, "slot-1", "plan-1"),
                              segment="seg_000005.ts", sequence=5, duration_s=2.0,
                              program_date_time="2026-01-01T00:00:10.000Z", run_id="run-1",
                              timeline_s=10.0001, ts_utc="2026-01-01T00:00:12.000Z")
    assert made == entry and made.to_json() == LINE


def test_keys_the_record_does_not_know_are_kept() -> None:
    data = {**json.loads(LINE), "viewer_hint": 7}
    entry = PlayoutEntry.from_dict(data)
    assert entry.extra == {"viewer_hint": 7}
    assert entry.to_dict() == data


def test_readers_skip_a_torn_line_and_find_by_segment_and_sequence(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    log = layout.broadcast / "playout.jsonl"
    again = LINE.replace('"sequence": 5', '"sequence": 9').replace('"offset_s": 6.0',
                                                                   '"offset_s": 8.0')
    log.write_text(LINE + "\n" + again + "\n" + '{"item_id": "item-00')
    assert [e.sequence for e in read_playout(layout)] == [5, 9]
    assert [e.sequence for e in read_playout(layout, tail=1)] == [9]
    clock = FakeClock()
    found = find_entry(layout, "http://127.0.0.1/hls/seg_000005.ts?x=1", sequence=5,
                       clock=clock)
    assert found is not None and found.offset_s == 6.0
    newest = find_entry(layout, "seg_000005.ts", clock=clock)
    assert newest is not None and newest.offset_s == 8.0  # the newest line of that name
    assert find_entry(layout, "seg_000006.ts", timeout_s=5, clock=clock) is None
    assert clock.monotonic() == 5  # waited on the fake clock, not in real time


def test_first_after_a_mark_reads_only_complete_new_lines(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    log = layout.broadcast / "playout.jsonl"
    assert playout_mark(layout) == 0
    log.write_text(LINE + "\n")
    mark = playout_mark(layout)
    clock = FakeClock()
    assert first_after(layout, mark, 3, clock=clock) is None
    with log.open("a") as fh:
        fh.write(LINE.replace('"sequence": 5', '"sequence": 6'))  # not finished yet
    assert first_after(layout, mark, 1, clock=clock) is None
    with log.open("a") as fh:
        fh.write("\n")
    entry = first_after(layout, mark, 1, clock=clock)
    assert entry is not None and entry.sequence == 6
