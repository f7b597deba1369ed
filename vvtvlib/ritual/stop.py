"""The clean stop (seed M1 step 6): ingest stops after its last segment, then the station.

The optional ``closing_bell.mp4`` is the seed's symbolic sign-off: the final frame held for
a few seconds, fading to black over a bell tone, made with FFmpeg after the stop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from vvtvlib.core.layout import StationLayout

CLOSING_BELL = "closing_bell.mp4"


def _newest_segment(layout: StationLayout) -> tuple[str | None, float | None]:
    segs = [p for p in layout.hls_dir.glob("*") if p.suffix in (".ts", ".m4s")]
    if not segs:
        return None, None
    newest = max(segs, key=lambda p: p.stat().st_mtime)
    return newest.name, newest.stat().st_mtime


def clean_stop(layout: StationLayout, timeout_s: float) -> dict[str, Any]:
    """Broadcaster stop (flushes its last segment), then the supervisor's graceful stop."""
    from vvtvlib.station import api

    t0 = time.monotonic()
    stopped = api.stop_ingest(layout)
    last_segment, _ = _newest_segment(layout)
    t1 = time.monotonic()
    down = api.down(layout)
    t2 = time.monotonic()
    return {"broadcaster": _plain(stopped), "station": _plain(down),
            "last_segment": last_segment, "broadcaster_stop_s": round(t1 - t0, 3),
            "station_down_s": round(t2 - t1, 3), "timeout_s": timeout_s}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


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
