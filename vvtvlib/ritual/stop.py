"""The clean stop (seed M1 step 6): ingest stops after its last segment, then the station.

The optional ``closing_bell.mp4`` is the seed's symbolic sign-off: the final frame held for
a few seconds, fading to black over a bell tone, made with FFmpeg after the stop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vvtvlib.core.layout import StationLayout

if TYPE_CHECKING:
    from vvtvlib.station.api import IngestStopped, StationStopped

CLOSING_BELL = "closing_bell.mp4"


def _newest_segment(layout: StationLayout) -> tuple[str | None, float | None]:
    segs = [p for p in layout.hls_dir.glob("*") if p.suffix in (".ts", ".m4s")]
    if not segs:
        return None, None
    newest = max(segs, key=lambda p: p.stat().st_mtime)
    return newest.name, newest.stat().st_mtime


@dataclass(frozen=True)
class CleanStop:
    """The stop step's record: ingest stopped, then the station, and how long each took."""

    broadcaster: IngestStopped
    station: StationStopped
    last_segment: str | None
    broadcaster_stop_s: float
    station_down_s: float
    timeout_s: float

    @property
    def wait_s(self) -> float:
        return self.broadcaster_stop_s + self.station_down_s

    def to_dict(self) -> dict[str, Any]:
        return {"broadcaster": self.broadcaster.to_dict(), "station": self.station.to_dict(),
                "last_segment": self.last_segment,
                "broadcaster_stop_s": self.broadcaster_stop_s,
                "station_down_s": self.station_down_s, "timeout_s": self.timeout_s}


def clean_stop(layout: StationLayout, timeout_s: float) -> CleanStop:
    """Broadcaster stop (flushes its last segment), then the supervisor's graceful stop."""
    from vvtvlib.station import api

    t0 = time.monotonic()
    stopped = api.stop_ingest(layout)
    last_segment, _ = _newest_segment(layout)
    t1 = time.monotonic()
    down = api.down(layout)
    t2 = time.monotonic()
    return CleanStop(stopped, down, last_segment, round(t1 - t0, 3), round(t2 - t1, 3),
                     timeout_s)


def closing_bell(frame: Path, out: Path, seconds: float = 5.0) -> Path:
    from vvtvlib.media.ffmpeg import run_ffmpeg

    fade = max(0.5, seconds * 0.4)
    run_ffmpeg(["-y", "-loop", "1", "-framerate", "25", "-i", str(frame),
                "-f", "lavfi", "-i", f"sine=frequency=880:duration={seconds:g}",
                "-t", f"{seconds:g}", "-vf",
                f"scale=trunc(iw/2)*2:trunc(ih/2)*2,fade=t=out:st={seconds - fade:g}:d={fade:g},"
                "format=yuv420p",
                "-af", f"afade=t=out:st={seconds - fade:g}:d={fade:g}",
                "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-shortest",
                "-movflags", "+faststart", str(out)], timeout_s=120, what="closing bell")
    return out
