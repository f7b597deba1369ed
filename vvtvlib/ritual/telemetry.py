"""Final-frame telemetry: versions, playout position, stream bitrate, VMAF.

Reads only: the playout log, the live playlist over HTTP, FFmpeg and nginx version strings.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from vvtvlib.core.errors import CheckFailed, DependencyMissing
from vvtvlib.core.layout import StationLayout

if TYPE_CHECKING:
    from vvtvlib.station.playout import PlayoutEntry

PLAYOUT_TAIL_LINES = 500


def playout_log(layout: StationLayout) -> Path:
    return layout.broadcast / "playout.jsonl"


def playout_tail(layout: StationLayout, lines: int = PLAYOUT_TAIL_LINES) -> list[PlayoutEntry]:
    """The newest ``lines`` entries of ``broadcast/playout.jsonl`` (torn lines skipped)."""
    from vvtvlib.station.playout import read_playout

    return read_playout(layout, tail=lines)


def executed_in_slot(entries: list[PlayoutEntry], slot_id: str | None) -> float:
    """Seconds of programming aired in the last run of ``slot_id`` (segment durations)."""
    total = 0.0
    for entry in reversed(entries):
        if entry.slot_id != slot_id:
            break
        total += float(entry.duration_s or entry.extra.get("duration") or 0.0)
    return round(total, 3)


def stream_bitrate(hls_url: str, segments: int = 3, timeout_s: float = 5.0) -> float | None:
    """Bits per second over the newest ``segments`` of the live playlist, read over HTTP."""
    from vvtvlib.media.hls import parse_playlist

    try:
        with httpx.Client(timeout=timeout_s) as client:
            pl = parse_playlist(client.get(hls_url).raise_for_status().text)
            chosen = [s for s in pl.segments if s.duration > 0][-segments:]
            if not chosen:
                return None
            size = sum(len(client.get(str(httpx.URL(hls_url).join(s.uri))).raise_for_status()
                           .content) for s in chosen)
    except httpx.HTTPError:
        return None
    seconds = sum(s.duration for s in chosen)
    return round(size * 8 / seconds, 1) if seconds > 0 else None


def vmaf_available(exe: str) -> bool:
    from vvtvlib.media.ffmpeg import ffmpeg_capabilities

    return "libvmaf" in ffmpeg_capabilities(exe)["filters"]


def vmaf_score(distorted: Path, reference: Path, exe: str) -> float | None:
    """VMAF of one frame against its reference (``None`` when FFmpeg lacks libvmaf)."""
    from vvtvlib.media.ffmpeg import run_ffmpeg

    if not vmaf_available(exe):
        return None
    with tempfile.TemporaryDirectory(prefix="vvtv-vmaf-") as tmp:
        log = Path(tmp) / "vmaf.json"
        graph = ("[0:v]format=yuv420p[d];[1:v]format=yuv420p[r];[d][r]scale2ref[d2][r2];"
                 f"[d2][r2]libvmaf=log_fmt=json:log_path={log}")
        try:
            run_ffmpeg(["-i", str(distorted), "-i", str(reference), "-lavfi", graph,
                        "-f", "null", "-"], exe=exe, timeout_s=60, what="VMAF")
            pooled = json.loads(log.read_text())["pooled_metrics"]["vmaf"]
        except (CheckFailed, OSError, ValueError, KeyError):
            return None
    return round(float(pooled["mean"]), 3)


def nginx_version() -> str | None:
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                    else None)
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10,
                              check=False)
    except OSError:
        return None
    m = re.search(r"nginx/(\S+)", proc.stderr + proc.stdout)
    return m.group(1) if m else None


def source_commit() -> str | None:
    """The commit of the vvtvlib checkout, when it is one (the seed's "commit ids")."""
    repo = Path(__file__).resolve().parents[2]
    git = shutil.which("git")
    if git is None or not (repo / ".git").exists():
        return None
    proc = subprocess.run([git, "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, timeout=10, check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def vvtvlib_version() -> str | None:
    import vvtvlib

    version = getattr(vvtvlib, "__version__", None)
    if version:
        return str(version)
    try:  # an install whose finder maps the package as a namespace has no __version__
        return importlib.metadata.version("vvtvlib")
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class ToolVersions:
    """What the snapshot was made with: the manifest's ``versions`` and
    ``system/versions.json`` (``to_dict``)."""

    vvtvlib: str | None
    python: str
    ffmpeg: str | None
    nginx: str | None
    sqlite: str
    zstandard: str
    platform: str
    vvtvlib_commit: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"vvtvlib": self.vvtvlib, "python": self.python, "ffmpeg": self.ffmpeg,
                "nginx": self.nginx, "sqlite": self.sqlite, "zstandard": self.zstandard,
                "platform": self.platform, "vvtvlib_commit": self.vvtvlib_commit}


def collect_versions() -> ToolVersions:
    """The manifest's ``versions``: vvtvlib, Python, FFmpeg, nginx, SQLite (+ build info)."""
    from vvtvlib.media.ffmpeg import ffmpeg_exe, ffmpeg_version

    try:
        exe: str | None = ffmpeg_exe()
        ffmpeg: str | None = ffmpeg_version(exe)
    except DependencyMissing:
        exe = ffmpeg = None
    import zstandard

    return ToolVersions(vvtvlib=vvtvlib_version(), python=platform.python_version(),
                        ffmpeg=ffmpeg, nginx=nginx_version(), sqlite=sqlite3.sqlite_version,
                        zstandard=zstandard.__version__, platform=platform.platform(),
                        vvtvlib_commit=source_commit())
