"""The station supervisor process: broadcaster, HTTP server, nginx (profile) and workers.

Started detached by ``station_up`` as ``python -m vvtvlib.station.supervisor --root R``.
The main loop tracks playout every 0.3 s, restarts a crashed encoder from where it stopped,
and re-reads control flags when their generation changes. SIGTERM/SIGINT stop it
gracefully: the broadcaster flushes its last segment, jobs in progress finish, nginx quits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psutil

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.errors import TimedOut, UsageError, VVTVError
from vvtvlib.core.features import FlagWatcher, flags_path
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.log import get_logger
from vvtvlib.core.wait import wait_until
from vvtvlib.media.hls import inject_program_date_time

from . import nginx as nginx_profile
from .broadcaster import Broadcaster, read_playlist, read_queue
from .config import load_station_config
from .control import queue_buffer
from .db import transaction
from .httpd import make_server
from .metrics import StationMetrics
from .replies import (
    BroadcastStarted,
    EmergencyInjected,
    EncoderRestarted,
    EncoderRun,
    IngestStopped,
)
from .runtime import (
    STARTUP_ERROR,
    EncoderStatus,
    RuntimeInfo,
    SupervisorStatus,
    clear_runtime,
    control_token,
    free_port,
    kill_orphans,
    record_children,
    write_pidfile,
    write_runtime,
)
from .schedule import advance, resolve_start
from .state import ControlStore, Playing, Position, ResumePoint
from .workers import Gate, WorkerPool, clean_tmp


class Supervisor:
    def __init__(self, layout: StationLayout, *, ingest: bool = True) -> None:
        self.layout = layout
        self.cfg = load_station_config(layout)
        self.profile = self.cfg.station.profile
        self.log = get_logger("station-supervisor", path=layout.logs / "supervisor.jsonl")
        # the seed's logs/streaming.jsonl: encoder runs, stops and restarts
        self.stream_log = get_logger("streaming", path=layout.logs / "streaming.jsonl")
        self.control_store = ControlStore(layout)
        self.gate = Gate(self.control_store.flags())
        self.stop_event = threading.Event()
        self.cmd_lock = threading.RLock()
        self.started_mono = time.monotonic()
        self.started_utc = utc_iso()
        self.ingest = ingest
        self.encoder_started: float | None = None
        enc = self.control_store.get("encoder") or {}
        self.restarts = int(enc.get("restarts", 0))
        self.last_restart_utc = enc.get("last_restart_utc")
        self.token = ""
        self.hls_dir = layout.hls_dir
        self.nginx_proc: subprocess.Popen[bytes] | None = None
        self.nginx_worker_user: str | None = None
        self.ports: dict[str, int] = {}
        self.info: RuntimeInfo | None = None
        self.broadcaster: Broadcaster | None = None
        self.workers: WorkerPool | None = None
        self.metrics = StationMetrics()
        # feature flags, re-read every tick: a change applies within a second, no restart
        self.features = FlagWatcher(flags_path(layout.root))
        self._features_seen = (self.features.reloads, self.features.error)
        self.metrics.bind(segment_age=self.segment_age_s, queue_buffer_s=self.queue_buffer_s,
                          encoder_up=lambda: bool(self.broadcaster and self.broadcaster.running()),
                          in_progress=lambda: self.gate.snapshot().in_progress)

    # ------------------------------------------------------------------ start / stop
    def start(self) -> None:
        lay = self.layout
        killed = kill_orphans(lay)
        if killed:
            self.log.warning("killed orphans of a previous supervisor", pids=killed)
        clean_tmp(lay)
        write_pidfile(lay)
        self.token = control_token(lay, create=True) or ""
        host = self.cfg.http.host
        self.ports["http"] = self.cfg.http.port or free_port(host)
        self.server = make_server(self, host, self.ports["http"])
        threading.Thread(target=self.server.serve_forever, name="http", daemon=True).start()
        status_url = f"http://{host}:{self.ports['http']}/status"
        hls_url = f"http://{host}:{self.ports['http']}/hls/{self.cfg.hls.playlist}"
        rtmp_url = None
        if self.profile == "nginx-rtmp":
            self.ports["nginx_http"] = self.cfg.http.nginx_http_port or free_port(host)
            self.ports["nginx_rtmp"] = self.cfg.http.nginx_rtmp_port or free_port(host)
            self._start_nginx()
            hls_url = f"http://{host}:{self.ports['nginx_http']}/hls/{self.cfg.hls.playlist}"
            rtmp_url = f"rtmp://{host}:{self.ports['nginx_rtmp']}/live/main"
        self.broadcaster = Broadcaster(lay, profile=self.profile,
                                       segment_s=self.cfg.media.segment_s,
                                       list_size=self.cfg.hls.list_size,
                                       playlist=self.cfg.hls.playlist, rtmp_url=rtmp_url,
                                       logger=self.stream_log, metrics=self.metrics)
        self.workers = WorkerPool(lay, self.cfg.workers, self.gate, seed=self.cfg.station.seed,
                                  logger=self.log, metrics=self.metrics, features=self.features)
        self.workers.start()
        self.info = RuntimeInfo(
            pid=os.getpid(), create_time=psutil.Process().create_time(), profile=self.profile,
            http_port=self.ports["http"], status_url=status_url, hls_url=hls_url,
            control_url=f"http://{host}:{self.ports['http']}/control",
            started_utc=self.started_utc, nginx_http_port=self.ports.get("nginx_http"),
            nginx_rtmp_port=self.ports.get("nginx_rtmp"))
        self.control_store.set({"broadcaster": {"desired": "on" if self.ingest else "off"}},
                               command="supervisor start",
                               detail={"pid": os.getpid(), "ingest": self.ingest})
        if self.ingest:
            self.start_broadcast(None, None)
        self._record_children()
        write_runtime(lay, self.info)
        self.log.info("supervisor up", profile=self.profile, ports=self.ports,
                      ingest=self.ingest)

    def _start_nginx(self) -> None:
        plan = nginx_profile.render(
            self.layout, http_port=self.ports["nginx_http"], rtmp_port=self.ports["nginx_rtmp"],
            supervisor_port=self.ports["http"], segment_s=self.cfg.media.segment_s,
            list_size=self.cfg.hls.list_size)
        self.nginx_worker_user = plan.worker_user
        self.nginx_proc = nginx_profile.start(plan, self.layout)
        proc, rtmp = self.nginx_proc, ("127.0.0.1", self.ports["nginx_rtmp"])

        def listening() -> bool:
            if proc.poll() is not None:
                raise VVTVError("nginx exited at start; see system/logs/nginx-error.log")
            with contextlib.suppress(OSError), socket.create_connection(rtmp, timeout=0.5):
                return True
            return False

        # Not listening after 10 s: go on; the broadcaster's first push reports it.
        with contextlib.suppress(TimedOut):
            wait_until(listening, 10, 0.1, what="nginx to accept RTMP")
        self.log.info("nginx up", pid=self.nginx_proc.pid, worker_user=plan.worker_user)

    def _record_children(self) -> None:
        children = {}
        if self.nginx_proc is not None:
            children["nginx"] = self.nginx_proc.pid
        if self.broadcaster and self.broadcaster.current:
            children["ffmpeg"] = self.broadcaster.current.proc.pid
        record_children(self.layout, children)

    def shutdown(self) -> None:
        self.log.info("supervisor stopping")
        with self.cmd_lock:
            if self.broadcaster:
                resume = self.broadcaster.stop()
                if resume:
                    self._save_resume(resume)
        if self.workers:
            self.workers.stop()
        if self.nginx_proc is not None:
            nginx_profile.stop(self.nginx_proc)
        with contextlib.suppress(Exception):
            self.server.shutdown()
            self.server.server_close()
        clear_runtime(self.layout)
        self.log.info("supervisor down")

    # ------------------------------------------------------------------ broadcasting
    def _save_resume(self, pos: Position) -> None:
        self.control_store.set({"resume": {**pos.to_dict(), "recorded_utc": utc_iso()}},
                               command="broadcaster resume position", detail=pos.to_dict())

    def next_position(self, item_id: str | None, offset_s: float | None) -> Position:
        entries = read_queue(self.layout)
        kv = self.control_store.get_many()
        resume = ResumePoint.from_dict(kv.get("resume"))
        playing = Playing.from_dict(kv.get("playing"))
        seg = self.cfg.media.segment_s
        hint = resume.position if resume else None
        if playing and (not resume or playing.updated_utc > (resume.recorded_utc or "")):
            # Playout moved on after the last recorded resume point (a crash): continue
            # after the last segment that was served.
            hint = advance(entries, playing.position, seg, seg)
        return resolve_start(entries, item_id, offset_s, hint, seg)

    def start_broadcast(self, item_id: str | None, offset_s: float | None) -> BroadcastStarted:
        assert self.broadcaster is not None
        with self.cmd_lock:
            explicit = item_id is not None or offset_s is not None
            if self.broadcaster.running() and not explicit:
                return BroadcastStarted(True, self.broadcaster.info())
            # Resolve first: a bad item id must not take the running broadcast off air.
            pos = self.next_position(item_id, offset_s)
            if self.broadcaster.running():
                resume = self.broadcaster.stop()
                if resume:
                    self._save_resume(resume)
                    if not explicit:
                        pos = self.next_position(None, None)
            start = self.broadcaster.start(pos)
            self.encoder_started = time.monotonic()
            self.ingest = True
            self._record_children()
            return BroadcastStarted(False, self.broadcaster.info(), start)

    def stop_broadcast(self) -> IngestStopped:
        assert self.broadcaster is not None
        with self.cmd_lock:
            self.ingest = False
            resume = self.broadcaster.stop()
            if resume:
                self._save_resume(resume)
            self.encoder_started = None
            self._record_children()
            return IngestStopped(ResumePoint(resume) if resume else
                                 ResumePoint.from_dict(self.control_store.get("resume")))

    def _check_encoder(self) -> None:
        b = self.broadcaster
        if b is None or b.current is None or not self.ingest:
            return
        code = b.exited()
        if code is None:
            return
        with self.cmd_lock:
            if b.current is None or not self.ingest:
                return
            resume = b.stop(timeout_s=1)  # logs what it flushed, computes where to go on
            if resume:
                self._save_resume(resume)
            if code != 0:
                self.restarts += 1
                self.metrics.restarts.inc()
                self.last_restart_utc = utc_iso()
                self.control_store.set({"encoder": {"restarts": self.restarts,
                                                    "last_restart_utc": self.last_restart_utc}},
                                       command="encoder restart", detail={"exit_code": code})
                self.log.warning("encoder exited; restarting", exit_code=code)
                self.stream_log.warning("encoder exited; restarting", exit_code=code,
                                        restarts=self.restarts)
            b.start(self.next_position(None, None))
            self.encoder_started = time.monotonic()
            self._record_children()

    # ------------------------------------------------------------------ control
    def apply_flags(self) -> int:
        flags = self.control_store.flags()
        if flags.generation != self.gate.flags.generation:
            self.gate.apply(flags)
            self.log.info("control flags applied", generation=flags.generation,
                          paused=flags.paused, queue_frozen=flags.queue_frozen)
        return flags.generation

    def control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """One control command: the request's JSON body in, the reply's JSON body out (the
        HTTP edge; the commands themselves return typed records)."""
        if action == "reload":
            gen = self.apply_flags()
            return {"applied_generation": gen, **self.gate.snapshot().to_dict()}
        if action == "broadcaster/start":
            offset = body.get("offset_s")
            return self.start_broadcast(body.get("item_id"),
                                        float(offset) if offset is not None else None).to_dict()
        if action == "broadcaster/stop":
            return self.stop_broadcast().to_dict()
        if action == "encoder/restart":
            return self.restart_encoder().to_dict()
        if action == "emergency/inject":
            return self.inject_emergency(int(body.get("count", 1)),
                                         str(body.get("reason", ""))).to_dict()
        raise UsageError(f"unknown control action {action!r}", actual=action)

    def restart_encoder(self) -> EncoderRestarted:
        """Stop the encoder and start it again at the resume point; nginx (and the HTTP
        server) keep running, so players only see a gap of a segment or two."""
        assert self.broadcaster is not None
        with self.cmd_lock:
            before = self.broadcaster.info().run_id
            if self.broadcaster.running():
                resume = self.broadcaster.stop()
                if resume:
                    self._save_resume(resume)
            start = self.broadcaster.start(self.next_position(None, None))
            self.encoder_started = time.monotonic()
            self.ingest = True
            self.restarts += 1
            self.metrics.restarts.inc()
            self.last_restart_utc = utc_iso()
            self.control_store.set({"encoder": {"restarts": self.restarts,
                                                "last_restart_utc": self.last_restart_utc}},
                                   command="encoder restart", detail={"operator": True})
            self._record_children()
            self.stream_log.warning("encoder restarted by the operator", restarts=self.restarts)
            return EncoderRestarted(before, start,
                                    self.nginx_proc.pid if self.nginx_proc else None,
                                    self.broadcaster.info())

    def inject_emergency(self, count: int, reason: str) -> EmergencyInjected:
        """Append ``count`` entries of the emergency loop (the station's first item, looped)
        to the queue: the buffer grows at once, whatever the planner does."""
        if not 1 <= count <= 100:
            raise UsageError(f"--inject must be between 1 and 100, got {count}", actual=count)
        now = utc_iso()
        with transaction(self.layout.db("queue")) as c:
            src = c.execute("SELECT item_id, duration_s FROM queue ORDER BY position "
                            "LIMIT 1").fetchone()
            if src is None:
                raise UsageError("the queue is empty: nothing to loop")
            last = c.execute("SELECT MAX(position) FROM queue").fetchone()[0]
            for i in range(count):
                c.execute("INSERT INTO queue(position, item_id, plan_id, slot_id, duration_s, "
                          "status, enqueued_utc) VALUES (?,?,?,?,?,'queued',?)",
                          (last + 1 + i, src[0], "emergency-loop", None, src[1], now))
        self.stream_log.warning("emergency loop injected", count=count, reason=reason)
        return EmergencyInjected(count, src[0], round(count * src[1], 3), self.queue_buffer_s())

    # ------------------------------------------------------------------ HTTP backend
    def playlist_text(self) -> str | None:
        path = self.layout.hls_dir / self.cfg.hls.playlist
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        if self.profile == "nginx-rtmp" and self.broadcaster is not None:
            text = inject_program_date_time(text, self.broadcaster.program_date_times())
        return text

    def segment_age_s(self) -> float | None:
        pl = read_playlist(self.layout.hls_dir / self.cfg.hls.playlist)
        if not pl or not pl.segments:
            return None
        try:
            mtime = (self.layout.hls_dir / pl.segments[-1].uri).stat().st_mtime
        except FileNotFoundError:
            return None
        return round(max(0.0, time.time() - mtime), 3)

    def queue_buffer_s(self) -> float:
        return queue_buffer(self.layout, self.control_store.on_air())[0]

    def metrics_text(self) -> bytes:
        return self.metrics.render()

    def runtime_status(self) -> SupervisorStatus:
        snap = self.gate.snapshot()
        b = self.broadcaster.info() if self.broadcaster else EncoderRun(running=False)
        running = b.running
        return SupervisorStatus(
            pid=os.getpid(), profile=self.profile, station_id=self.cfg.station.id,
            started_utc=self.started_utc,
            uptime_s=round(time.monotonic() - self.started_mono, 3),
            ingest=self.ingest,
            applied_generation=snap.generation,
            in_progress=sum(snap.in_progress.values()),
            in_progress_by_worker=snap.in_progress, jobs_done=snap.jobs_done,
            worker_errors=dict(self.workers.last_error) if self.workers else {},
            encoder=EncoderStatus(
                running=running,
                uptime_s=round(time.monotonic() - self.encoder_started, 3)
                if running and self.encoder_started else 0.0,
                restarts=self.restarts, last_restart_utc=self.last_restart_utc,
                pid=b.pid if running else None, run_id=b.run_id,
                segments=b.segments, args=b.args),
            segment_age_s=self.segment_age_s(),
            features=self.features.state(),
            nginx={"pid": self.nginx_proc.pid if self.nginx_proc else None,
                   "running": bool(self.nginx_proc and self.nginx_proc.poll() is None),
                   "worker_user": self.nginx_worker_user,
                   "http_port": self.ports.get("nginx_http"),
                   "rtmp_port": self.ports.get("nginx_rtmp")}
            if self.profile == "nginx-rtmp" else None,
            hls_url=self.info.hls_url if self.info else None,
            status_url=self.info.status_url if self.info else None,
            now_utc=datetime.now(UTC).isoformat(),
        )

    # ------------------------------------------------------------------ main loop
    def loop(self) -> None:
        last_flags = 0.0
        while not self.stop_event.wait(0.3):
            try:
                if self.broadcaster:
                    self.broadcaster.poll()
                self._check_encoder()
                if self.nginx_proc is not None and self.nginx_proc.poll() is not None:
                    self.log.error("nginx exited; restarting it")
                    self._start_nginx()
                    self._record_children()
                self._watch_features()
                if time.monotonic() - last_flags >= 1.0:
                    self.apply_flags()
                    last_flags = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - the supervisor must outlive a bad tick
                self.log.error("supervisor tick failed", error=f"{type(exc).__name__}: {exc}")


    def _watch_features(self) -> None:
        self.features.current()
        seen = (self.features.reloads, self.features.error)
        if seen != self._features_seen:
            self._features_seen = seen
            if self.features.error:
                self.log.error("feature flags invalid; keeping the last good ones",
                               error=self.features.error)
            else:
                self.log.info("feature flags applied", reloads=self.features.reloads)


def run(root: str, ingest: bool = True) -> int:
    layout = StationLayout.at(root)
    layout.run.mkdir(parents=True, exist_ok=True)
    err_path = layout.run / STARTUP_ERROR
    err_path.unlink(missing_ok=True)
    sup: Supervisor | None = None

    def _stop(signum: int, frame: Any) -> None:
        if sup is not None:
            sup.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        sup = Supervisor(layout, ingest=ingest)
        sup.start()
    except BaseException as exc:
        err = exc if isinstance(exc, VVTVError) else VVTVError(f"{type(exc).__name__}: {exc}")
        err_path.write_text(json.dumps({"type": type(err).__name__, "message": err.message}))
        if sup is not None:
            with contextlib.suppress(Exception):
                sup.shutdown()
        kill_orphans(layout)
        clear_runtime(layout)
        return 1
    try:
        sup.loop()
    finally:
        sup.shutdown()
    return 0
