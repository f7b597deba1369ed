"""The broadcaster: one FFmpeg process playing a run of the queue into live HLS.

Mezzanines are stream-copied (``-re`` paces them at real time), so the encoder costs almost
no CPU. ``embedded``: FFmpeg's HLS muxer writes ``broadcast/hls/``; ``nginx-rtmp``: FFmpeg
pushes RTMP and nginx writes the fragments. Either way a tracker reads the playlist, maps
each new segment to (queue entry, offset) and appends it to ``broadcast/playout.jsonl``.
Graceful stop sends ``q`` so FFmpeg closes (flushes) its last segment.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.layout import StationLayout
from vvtvlib.media.ffmpeg import ffmpeg_exe
from vvtvlib.media.hls import Playlist, parse_playlist

from .db import opened
from .metrics import ProgressReader, StationMetrics
from .playout import PLAYOUT_LOG, PlayoutEntry, find_entry
from .replies import EncoderRun
from .schedule import QueueEntry, Run, advance, build_run, ffconcat
from .state import ControlStore, Playing, Position


def read_queue(layout: StationLayout) -> list[QueueEntry]:
    """Queued and aired entries in order (read-only: the broadcaster never writes business
    databases, so playout can continue while the queue is frozen)."""
    with opened(layout.db("queue"), readonly=True) as conn:
        rows = conn.execute("SELECT position, item_id, plan_id, slot_id, duration_s FROM queue "
                            "WHERE status != 'skipped' ORDER BY position").fetchall()
    return [QueueEntry(r[0], r[1], r[2], r[3], float(r[4])) for r in rows]


def item_paths(layout: StationLayout) -> dict[str, str]:
    with opened(layout.db("plans"), readonly=True) as conn:
        rows = conn.execute("SELECT item_id, path FROM items").fetchall()
    return {r[0]: str(layout.root / r[1]) for r in rows}


def read_playlist(path: Path) -> Playlist | None:
    try:
        return parse_playlist(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


@dataclass
class LoggedSegment:
    sequence: int
    uri: str
    duration: float
    timeline_start_s: float
    position: Position
    program_date_time: str


@dataclass
class BroadcastRun:
    run_id: str
    run: Run
    args: list[str]
    proc: subprocess.Popen[bytes]
    started_mono: float
    started_wall: datetime
    known_before: set[int]
    segments: list[LoggedSegment] = field(default_factory=list)
    timeline_s: float = 0.0


class Broadcaster:
    def __init__(self, layout: StationLayout, *, profile: str, segment_s: int, list_size: int,
                 playlist: str = "main.m3u8", rtmp_url: str | None = None,
                 logger: Any = None, metrics: StationMetrics | None = None) -> None:
        self.layout = layout
        self.profile = profile
        self.segment_s = segment_s
        self.list_size = list_size
        self.playlist_name = playlist
        self.rtmp_url = rtmp_url
        self.log = logger
        self.metrics = metrics
        self.control = ControlStore(layout)
        self.current: BroadcastRun | None = None
        self.lock = threading.RLock()
        self.last_args: list[str] = []
        self.pdts: dict[str, str] = {}  # segment uri -> program date time, across runs

    @property
    def playlist_path(self) -> Path:
        return self.layout.hls_dir / self.playlist_name

    def output_args(self) -> list[str]:
        if self.profile == "nginx-rtmp":
            assert self.rtmp_url
            return ["-f", "flv", self.rtmp_url]
        flags = "delete_segments+program_date_time+append_list+discont_start+omit_endlist" \
                "+temp_file"
        return ["-f", "hls", "-hls_time", str(self.segment_s), "-hls_list_size",
                str(self.list_size), "-hls_flags", flags, "-hls_segment_filename",
                str(self.layout.hls_dir / "seg_%06d.ts"), str(self.playlist_path)]

    # ----------------------------------------------------------------- lifecycle
    def running(self) -> bool:
        with self.lock:
            return self.current is not None and self.current.proc.poll() is None

    def start(self, start: Position) -> Position:
        """Start playing at ``start`` (already aligned); returns the run's first position."""
        with self.lock:
            if self.running():
                raise RuntimeError("broadcaster already running")
            entries = read_queue(self.layout)
            run = build_run(entries, start, self.segment_s)
            script = self.layout.run / "playout.ffconcat"
            script.write_text(ffconcat(run, item_paths(self.layout)))
            # -progress: frame / drop_frames / dup_frames blocks on stdout (the encoder metrics)
            args = [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "warning",
                    "-progress", "pipe:1", "-re",
                    "-f", "concat", "-safe", "0", "-i", str(script), "-map", "0:v:0",
                    "-c", "copy", *self.output_args()]
            self.layout.hls_dir.mkdir(parents=True, exist_ok=True)
            pl = read_playlist(self.playlist_path)
            known = {s.sequence for s in pl.segments} if pl else set()
            log_path = self.layout.logs / "broadcaster-ffmpeg.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("ab") as err:
                proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=err, cwd=self.layout.run)
            assert proc.stdout is not None
            if self.metrics is not None:
                ProgressReader(self.metrics).follow(proc.stdout)
            else:  # nobody reads the progress: drain it so FFmpeg never blocks on the pipe
                threading.Thread(target=proc.stdout.read, daemon=True).start()
            self.last_args = args
            self.current = BroadcastRun(f"run-{int(time.time() * 1000)}", run, args, proc,
                                        time.monotonic(), datetime.now(UTC), known)
            self.control.set({"broadcaster_run": {"run_id": self.current.run_id,
                                                  "start": run.start.to_dict(),
                                                  "started_utc": utc_iso(),
                                                  "pid": proc.pid, "args": args}})
            if self.log:
                self.log.info("broadcaster started", run_id=self.current.run_id,
                              start=run.start.to_dict(), pid=proc.pid)
            return run.start

    def stop(self, timeout_s: float = 10.0) -> Position | None:
        """Graceful stop: FFmpeg finishes its current segment; returns the resume position."""
        with self.lock:
            cur = self.current
            if cur is None:
                return None
            if cur.proc.poll() is None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    assert cur.proc.stdin is not None
                    cur.proc.stdin.write(b"q")
                    cur.proc.stdin.flush()
                    cur.proc.stdin.close()
                try:
                    cur.proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    cur.proc.terminate()
                    try:
                        cur.proc.wait(timeout=3)
                    except subprocess.TimeoutExpired:
                        cur.proc.kill()
                        cur.proc.wait()
            # nginx closes its last fragment on unpublish; give it a moment to list it.
            deadline = time.monotonic() + (2.0 if self.profile == "nginx-rtmp" else 0.3)
            while True:
                self.poll()
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
            resume = self.resume_position()
            self.current = None
            if self.log:
                self.log.info("broadcaster stopped", run_id=cur.run_id,
                              resume=resume.to_dict() if resume else None,
                              segments=len(cur.segments))
            return resume

    def resume_position(self) -> Position | None:
        cur = self.current
        if cur is None:
            return None
        if not cur.segments:
            return cur.run.start
        entries = read_queue(self.layout)
        # Whole segments aired: continue right after them (a segment cut short by the stop
        # is shorter than segment_s, and align() rounds back to its start).
        return advance(entries, cur.run.start, cur.timeline_s, self.segment_s)

    def exited(self) -> int | None:
        with self.lock:
            if self.current is None:
                return None
            return self.current.proc.poll()

    # ----------------------------------------------------------------- playout tracking
    def poll(self) -> list[LoggedSegment]:
        """Log the segments that appeared since the last poll; returns them."""
        with self.lock:
            cur = self.current
            if cur is None:
                return []
            pl = read_playlist(self.playlist_path)
            if pl is None:
                return []
            logged = {s.sequence for s in cur.segments}
            new = []
            for seg in pl.segments:
                if seg.sequence in cur.known_before or seg.sequence in logged:
                    continue
                if cur.segments and seg.sequence < cur.segments[-1].sequence:
                    continue
                pos = cur.run.position_at(cur.timeline_s)
                pdt = seg.program_date_time or utc_iso(
                    cur.started_wall + timedelta(seconds=cur.timeline_s))
                entry = LoggedSegment(seg.sequence, seg.uri, seg.duration, cur.timeline_s, pos,
                                      pdt)
                cur.segments.append(entry)
                cur.timeline_s += seg.duration
                new.append(entry)
            if new:
                self._record(cur, new)
            return new

    def _record(self, cur: BroadcastRun, new: list[LoggedSegment]) -> None:
        path = self.layout.broadcast / PLAYOUT_LOG
        with path.open("a") as fh:
            for s in new:
                fh.write(PlayoutEntry.aired(
                    s.position, segment=s.uri, sequence=s.sequence, duration_s=s.duration,
                    program_date_time=s.program_date_time, run_id=cur.run_id,
                    timeline_s=s.timeline_start_s, ts_utc=utc_iso()).to_json() + "\n")
        for s in new:
            self.pdts[s.uri] = s.program_date_time
            if self.metrics is not None:
                self.metrics.segments.inc()
                with contextlib.suppress(OSError):
                    self.metrics.segment_bytes.inc((self.layout.hls_dir / s.uri).stat().st_size)
        if len(self.pdts) > 400:
            for uri in list(self.pdts)[:-200]:
                del self.pdts[uri]
        last = new[-1]
        self.control.set({"playing": Playing(last.position, last.uri, last.sequence,
                                             cur.run_id, last.program_date_time,
                                             utc_iso()).to_dict()})

    def program_date_times(self) -> dict[str, str]:
        with self.lock:
            return dict(self.pdts)

    def info(self) -> EncoderRun:
        with self.lock:
            cur = self.current
            if cur is None:
                return EncoderRun(running=False)
            return EncoderRun(running=cur.proc.poll() is None, run_id=cur.run_id,
                              pid=cur.proc.pid,
                              uptime_s=round(time.monotonic() - cur.started_mono, 3),
                              segments=len(cur.segments), args=tuple(cur.args),
                              last_segment=cur.segments[-1].uri if cur.segments else None)


def playout_entry(layout: StationLayout, segment: str, timeout_s: float = 5.0, *,
                  sequence: int | None = None) -> PlayoutEntry | None:
    """The playout-log entry of ``segment`` (see ``playout.find_entry``)."""
    return find_entry(layout, segment, timeout_s, sequence=sequence)
