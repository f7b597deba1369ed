"""Finding and running FFmpeg, and grabbing frames from clips and live HLS.

Discovery order: ``$VVTV_FFMPEG``, the ``imageio-ffmpeg`` wheel's binary, then ``ffmpeg`` on
PATH. Every failure becomes a lab error (``DependencyMissing``, ``TimedOut``, ``CheckFailed``)
carrying FFmpeg's last stderr lines, so callers never see a bare ``CalledProcessError``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vvtvlib.core.errors import CheckFailed, DependencyMissing, TimedOut

from .hls import parse_playlist

# Reading the newest segment of a live playlist is only fast when FFmpeg is told not to
# probe deeply and to start at the live edge (measured: seconds -> a fraction of a second).
LIVE_FLAGS = ["-live_start_index", "-1", "-probesize", "32768", "-analyzeduration", "500000"]


def ffmpeg_exe() -> str:
    """The FFmpeg binary to use; ``DependencyMissing`` when there is none."""
    env = os.environ.get("VVTV_FFMPEG")
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return env
        raise DependencyMissing(f"VVTV_FFMPEG points to {env}, which is not an executable file",
                                path=env)
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
        if exe and Path(exe).is_file():
            return str(exe)
    except Exception:  # noqa: BLE001 - the wheel is optional; fall back to PATH
        pass
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    raise DependencyMissing("FFmpeg was not found (set VVTV_FFMPEG, install imageio-ffmpeg, "
                            "or put ffmpeg on PATH)")


@functools.lru_cache(maxsize=8)
def _version_text(exe: str) -> str:
    proc = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True,
                          timeout=20, check=False)
    return proc.stdout


def ffmpeg_version(exe: str | None = None) -> str:
    """The version FFmpeg reports (``7.1``, ``n9.0.2-17-g2a57``, ...)."""
    text = _version_text(exe or ffmpeg_exe())
    m = re.search(r"ffmpeg version (\S+)", text)
    return m.group(1) if m else "unknown"


@functools.lru_cache(maxsize=8)
def _capabilities(exe: str) -> tuple[frozenset[str], frozenset[str]]:
    enc = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True,
                         timeout=20, check=False).stdout
    flt = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True,
                         timeout=20, check=False).stdout
    encoders = {m.group(1) for m in re.finditer(r"^\s[VAS][\w.]{5}\s+(\S+)", enc, re.M)}
    filters = {m.group(1) for m in re.finditer(r"^\s[T.][S.]\s+(\S+)\s+\S+->\S+", flt, re.M)}
    return frozenset(encoders), frozenset(filters)


def ffmpeg_capabilities(exe: str | None = None) -> dict[str, list[str]]:
    """``{"encoders": [...], "filters": [...]}`` of this FFmpeg build (sorted names)."""
    encoders, filters = _capabilities(exe or ffmpeg_exe())
    return {"encoders": sorted(encoders), "filters": sorted(filters)}


def run_ffmpeg(args: list[str], *, timeout_s: float = 120.0, exe: str | None = None,
               what: str = "FFmpeg") -> subprocess.CompletedProcess[str]:
    """Run FFmpeg with ``args`` (no binary, no banner); raise a lab error on failure."""
    cmd = [exe or ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise TimedOut(f"{what} did not finish within {timeout_s:g} s",
                       command=" ".join(cmd)) from None
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise CheckFailed(f"{what} failed (exit {proc.returncode}): {tail or 'no output'}",
                          command=" ".join(cmd))
    return proc


@dataclass(frozen=True)
class LiveGrab:
    """What ``grab_live_frame`` captured: the file, and the segment it came from if known."""

    path: str
    playlist_url: str
    segment: str | None
    segment_url: str | None
    media_sequence: int | None
    program_date_time: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def grab_live_frame(hls_url: str, out_jpg: str | Path, timeout_s: float = 20.0) -> LiveGrab:
    """Capture the first frame of the newest segment of a live HLS playlist as a JPEG.

    The playlist is read first so the result names the exact segment grabbed (the playout
    log maps it to item/offset); if it cannot be parsed, FFmpeg reads the playlist itself
    at the live edge.
    """
    out_jpg = Path(out_jpg)
    out_jpg.parent.mkdir(parents=True, exist_ok=True)
    segment = seg_url = pdt = None
    seq = None
    try:
        resp = httpx.get(hls_url, timeout=min(5.0, timeout_s))
        resp.raise_for_status()
        pl = parse_playlist(resp.text)
        if pl.segments:
            last = pl.segments[-1]
            segment, seq, pdt = last.uri, last.sequence, last.program_date_time
            seg_url = str(httpx.URL(hls_url).join(last.uri))
    except httpx.HTTPError as exc:
        raise DependencyMissing(f"live playlist {hls_url} is not reachable: {exc}") from exc
    if seg_url is not None:
        args = ["-y", "-probesize", "32768", "-analyzeduration", "500000", "-i", seg_url,
                "-frames:v", "1", "-q:v", "2", str(out_jpg)]
    else:
        args = ["-y", *LIVE_FLAGS, "-i", hls_url, "-frames:v", "1", "-q:v", "2", str(out_jpg)]
    run_ffmpeg(args, timeout_s=timeout_s, what="live frame grab")
    if not out_jpg.exists() or out_jpg.stat().st_size == 0:
        raise CheckFailed(f"no frame could be grabbed from {hls_url}", path=out_jpg)
    return LiveGrab(str(out_jpg), hls_url, segment, seg_url, seq, pdt)


def extract_frame(clip: str | Path, offset_s: float, out_path: str | Path,
                  timeout_s: float = 30.0) -> Path:
    """The frame at ``offset_s`` of a clip or segment file (accurate seek), as an image."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not Path(clip).exists():
        raise DependencyMissing(f"clip {clip} does not exist", path=clip)
    run_ffmpeg(["-y", "-i", str(clip), "-ss", f"{offset_s:.3f}", "-frames:v", "1", "-q:v", "2",
                str(out_path)], timeout_s=timeout_s, what="frame extraction")
    if not out_path.exists():
        raise CheckFailed(f"no frame at {offset_s:g} s in {clip}", path=clip)
    return out_path


def _probe_text(path: str | Path, exe: str | None) -> str:
    proc = subprocess.run([exe or ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                          capture_output=True, text=True, timeout=30, check=False)
    return proc.stderr


def _duration_of(text: str, path: str | Path) -> float:
    m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
    if not m:
        raise CheckFailed(f"cannot read the duration of {path}", path=path)
    h, mi, s = m.groups()
    return int(h) * 3600 + int(mi) * 60 + float(s)


def probe_duration(path: str | Path, exe: str | None = None) -> float:
    """Duration in seconds as FFmpeg reads it (parsed from ``-i`` output)."""
    return _duration_of(_probe_text(path, exe), path)


@dataclass(frozen=True)
class VideoProbe:
    duration_s: float | None  # None: FFmpeg reports none (a raw stream)
    fps: float | None  # of the first video stream, when FFmpeg reports it
    streams: int  # 0: FFmpeg could not open the file as media
    video: bool  # at least one video stream


def probe_video(path: str | Path, exe: str | None = None) -> VideoProbe:
    """Duration and frame rate as FFmpeg reads them (one ``-i`` run)."""
    text = _probe_text(path, exe)
    try:
        duration: float | None = _duration_of(text, path)
    except CheckFailed:
        duration = None
    m = re.search(r"Video:.*?(\d+(?:\.\d+)?) fps", text)
    return VideoProbe(duration, float(m.group(1)) if m else None,
                      len(re.findall(r"^\s*Stream #", text, re.M)),
                      re.search(r"^\s*Stream #.*: Video:", text, re.M) is not None)
