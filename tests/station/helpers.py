"""Small helpers for the station integration tests (no sleeps as assertions)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vvtvlib.core.layout import StationLayout
from vvtvlib.media.compare import FrameComparison, compare_frames
from vvtvlib.media.ffmpeg import extract_frame, grab_live_frame
from vvtvlib.station.broadcaster import playout_entry
from vvtvlib.station.schema import BUSINESS_DBS


def eventually(check: Callable[[], Any], timeout_s: float = 15.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(every)


def business_bytes(layout: StationLayout) -> dict[str, str]:
    """sha256 of each business database file and its WAL (the -shm index changes on reads)."""
    out = {}
    for name in BUSINESS_DBS:
        for suffix in ("", "-wal"):
            p = Path(f"{layout.db(name)}{suffix}")
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "-"
    return out


def playout_lines(layout: StationLayout) -> list[dict[str, Any]]:
    path = layout.broadcast / "playout.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def live_matches_mezzanine(layout: StationLayout, hls_url: str, tmp: Path
                           ) -> tuple[dict[str, Any], FrameComparison]:
    """Grab the live edge and compare it with the mezzanine frame the playout log names."""
    grab = grab_live_frame(hls_url, tmp / "live.jpg")
    assert grab.segment is not None
    entry = playout_entry(layout, grab.segment)
    assert entry is not None, f"segment {grab.segment} is not in the playout log"
    ref = extract_frame(layout.ready / "mezzanine" / f"{entry.item_id}.mp4",
                        entry.offset_s, tmp / "ref.jpg")
    return entry.to_dict(), compare_frames(tmp / "live.jpg", ref)
