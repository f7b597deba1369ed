"""The continuity proof on the revived node (the I/O half; ``continuity.decide`` judges).

The broadcaster starts at the item and offset the ritual recorded with the final frame. The
first segment the new broadcaster logs in ``broadcast/playout.jsonl`` is fetched from the
new live HLS over HTTP, its first frame becomes ``first_frame_after_revive.jpg``, and it is
compared with the ritual's ``final_frame.jpg``; the playout line gives the metadata side.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from vvtvlib.core.errors import TimedOut
from vvtvlib.core.layout import StationLayout
from vvtvlib.media.compare import compare_frames
from vvtvlib.media.ffmpeg import run_ffmpeg
from vvtvlib.vault.schema import Manifest

from . import station_port
from .continuity import ContinuityVerdict, Measurement, Position, Thresholds, decide

if TYPE_CHECKING:
    from vvtvlib.station.api import PlayoutEntry

FIRST_FRAME = "first_frame_after_revive.jpg"


def wait_first_segment(layout: StationLayout, mark: int, timeout_s: float
                       ) -> PlayoutEntry:
    """The first playout entry written after ``mark`` (the new broadcaster's)."""
    from vvtvlib.station import api

    entry = api.first_playout(layout, mark, timeout_s)
    if entry is None:
        raise TimedOut(f"the revived broadcaster logged no segment within {timeout_s:g} s",
                       path=layout.broadcast / "playout.jsonl")
    return entry


def prove_continuity(layout: StationLayout, snapshots: Path, manifest: Manifest,
                     thresholds: Thresholds, *, timeout_s: float = 60.0
                     ) -> tuple[ContinuityVerdict, dict[str, Any]]:
    from vvtvlib.station import api

    playout = manifest.playout
    assert playout is not None and playout.item_id is not None
    recorded = Position(playout.item_id, float(playout.offset_s or 0.0), playout.plan_id,
                        playout.slot_id)
    before = api.playout_mark(layout)
    t0 = time.monotonic()
    started = station_port.start_broadcaster(layout, playout.item_id, recorded.offset_s,
                                             plan_id=playout.plan_id, slot_id=playout.slot_id,
                                             timeout_s=timeout_s)
    line = wait_first_segment(layout, before, timeout_s)
    first_segment_s = round(time.monotonic() - t0, 3)
    hls_url = station_port.hls_url(layout)
    segment_url = str(httpx.URL(hls_url).join(line.segment or ""))
    out = layout.captures / FIRST_FRAME
    out.parent.mkdir(parents=True, exist_ok=True)
    # The same grab the ritual used for the final frame: the segment's first frame, over HTTP.
    run_ffmpeg(["-y", "-probesize", "32768", "-analyzeduration", "500000", "-i", segment_url,
                "-frames:v", "1", "-q:v", "2", str(out)], timeout_s=min(30.0, timeout_s),
               what="first frame after revival")
    final = snapshots / "final_frame.jpg"
    cmp = compare_frames(final, out)
    revived = Position(line.item_id, line.offset_s, line.plan_id, line.slot_id)
    segment_s = float(line.duration_s or station_port.segment_seconds(layout))
    verdict = decide(recorded, revived, Measurement(cmp.phash_distance, cmp.psnr_db, cmp.ssim),
                     segment_s=segment_s, thresholds=thresholds)
    detail = {"final_frame": str(final), "first_frame": str(out),
              "segment": line.segment, "segment_url": segment_url,
              "broadcaster_start": started.to_dict(), "first_segment_after_s": first_segment_s,
              "metrics": cmp.to_dict()}
    return verdict, detail
