"""Runtime files under ``system/run/``: the supervisor's pidfile, ports and children.

``supervisor.json`` is written atomically once the supervisor listens; it carries the pid
and process start time (so a recycled pid is never mistaken for our supervisor), ports,
URLs and the control token. ``children.json`` lists FFmpeg/nginx pids so a new ``up``
can kill orphans a crashed supervisor left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from vvtvlib.core.errors import TimedOut
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.pidfile import read_pid, write_pid
from vvtvlib.core.wait import wait_until

SUPERVISOR_FILE = "supervisor.json"
CHILDREN_FILE = "children.json"
TOKEN_FILE = "control.token"
STARTUP_ERROR = "startup_error.json"  # why a detached supervisor exited before listening


@dataclass
class RuntimeInfo:
    pid: int
    create_time: float
    profile: str
    http_port: int
    status_url: str
    hls_url: str
    control_url: str
    started_utc: str
    nginx_http_port: int | None = None
    nginx_rtmp_port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EncoderStatus:
    """The encoder as the running supervisor reports it."""

    running: bool = False
    uptime_s: float = 0.0
    restarts: int = 0
    last_restart_utc: str | None = None
    pid: int | None = None
    run_id: str | None = None
    segments: int = 0
    args: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"running": self.running, "uptime_s": self.uptime_s, "restarts": self.restarts,
                "last_restart_utc": self.last_restart_utc, "pid": self.pid,
                "run_id": self.run_id, "segments": self.segments,
                "args": None if self.args is None else list(self.args)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderStatus:
        args = d.get("args")
        return cls(bool(d.get("running", False)), float(d.get("uptime_s") or 0.0),
                   int(d.get("restarts") or 0), d.get("last_restart_utc"), d.get("pid"),
                   d.get("run_id"), int(d.get("segments") or 0),
                   None if args is None else tuple(args))


@dataclass(frozen=True)
class SupervisorStatus:
    """The running supervisor's ``/status`` answer: ``to_dict`` is the HTTP body,
    ``from_dict`` reads it back (``control.status``)."""

    pid: int
    profile: str
    station_id: str
    started_utc: str
    uptime_s: float
    ingest: bool
    applied_generation: int | None
    in_progress: int
    in_progress_by_worker: dict[str, int]
    jobs_done: dict[str, int]
    worker_errors: dict[str, str]
    encoder: EncoderStatus
    segment_age_s: float | None
    features: dict[str, Any] | None  # core.features' own state (path, error, reloads, flags)
    nginx: dict[str, Any] | None  # nginx-rtmp profile: pid, running, worker user, ports
    hls_url: str | None
    status_url: str | None
    now_utc: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid, "profile": self.profile, "station_id": self.station_id,
            "started_utc": self.started_utc, "uptime_s": self.uptime_s, "ingest": self.ingest,
            "applied_generation": self.applied_generation, "in_progress": self.in_progress,
            "in_progress_by_worker": dict(self.in_progress_by_worker),
            "jobs_done": dict(self.jobs_done), "worker_errors": dict(self.worker_errors),
            "encoder": self.encoder.to_dict(), "segment_age_s": self.segment_age_s,
            "features": self.features, "nginx": self.nginx, "hls_url": self.hls_url,
            "status_url": self.status_url, "now_utc": self.now_utc,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SupervisorStatus:
        return cls(
            pid=int(d["pid"]), profile=str(d.get("profile", "")),
            station_id=str(d.get("station_id", "")), started_utc=str(d.get("started_utc", "")),
            uptime_s=float(d.get("uptime_s") or 0.0), ingest=bool(d.get("ingest", False)),
            applied_generation=d.get("applied_generation"),
            in_progress=int(d.get("in_progress") or 0),
            in_progress_by_worker=dict(d.get("in_progress_by_worker") or {}),
            jobs_done=dict(d.get("jobs_done") or {}),
            worker_errors=dict(d.get("worker_errors") or {}),
            encoder=EncoderStatus.from_dict(d.get("encoder") or {}),
            segment_age_s=d.get("segment_age_s"), features=d.get("features"),
            nginx=d.get("nginx"), hls_url=d.get("hls_url"), status_url=d.get("status_url"),
            now_utc=str(d.get("now_utc", "")))


def _write_json(path: Path, data: dict[str, Any], mode: int = 0o644) -> None:
    atomic_write(path, json.dumps(data, sort_keys=True), mode=mode)


def write_runtime(layout: StationLayout, info: RuntimeInfo) -> None:
    _write_json(layout.run / SUPERVISOR_FILE, info.to_dict())


def read_runtime(layout: StationLayout) -> RuntimeInfo | None:
    try:
        data = json.loads((layout.run / SUPERVISOR_FILE).read_text())
        return RuntimeInfo(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def clear_runtime(layout: StationLayout) -> None:
    for name in (SUPERVISOR_FILE, CHILDREN_FILE, "supervisor.pid", TOKEN_FILE):
        with contextlib.suppress(FileNotFoundError):
            (layout.run / name).unlink()


def write_pidfile(layout: StationLayout) -> None:
    write_pid(layout.run / "supervisor.pid", mode=0o644)


def read_pidfile(layout: StationLayout) -> int | None:
    return read_pid(layout.run / "supervisor.pid")


def same_process(pid: int, create_time: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def supervisor_alive(layout: StationLayout) -> bool:
    info = read_runtime(layout)
    if info is not None:
        return same_process(info.pid, info.create_time)
    pid = read_pidfile(layout)
    if pid is None:
        return False
    try:
        return str(layout.root) in " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def control_token(layout: StationLayout, *, create: bool = False) -> str | None:
    path = layout.run / TOKEN_FILE
    if create:
        token = os.urandom(16).hex()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        return token
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ children / orphans

def record_children(layout: StationLayout, children: dict[str, int]) -> None:
    out = {}
    for role, pid in children.items():
        with contextlib.suppress(psutil.NoSuchProcess):
            out[role] = {"pid": pid, "create_time": psutil.Process(pid).create_time()}
    _write_json(layout.run / CHILDREN_FILE, out)


def kill_orphans(layout: StationLayout, timeout_s: float = 5.0) -> list[int]:
    """Kill what a crashed supervisor left: recorded children (and nginx workers), plus any
    process whose command line names this station's run or HLS folder."""
    victims: dict[int, psutil.Process] = {}
    try:
        recorded = json.loads((layout.run / CHILDREN_FILE).read_text())
    except (FileNotFoundError, ValueError):
        recorded = {}
    for entry in recorded.values():
        if same_process(entry["pid"], entry.get("create_time")):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(entry["pid"])
                victims[proc.pid] = proc
                for child in proc.children(recursive=True):
                    victims[child.pid] = child
    markers = (str(layout.run), str(layout.hls_dir))
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if proc.pid != os.getpid() and any(m in cmd for m in markers):
            victims[proc.pid] = proc
            with contextlib.suppress(psutil.NoSuchProcess):
                for child in proc.children(recursive=True):
                    victims[child.pid] = child
    for proc in victims.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(list(victims.values()), timeout=timeout_s)
    return sorted(victims)


def wait_gone(pid: int, create_time: float | None, timeout_s: float) -> bool:
    """True once ``pid`` (started at ``create_time``) is gone; False after ``timeout_s``."""
    try:
        return wait_until(lambda: not same_process(pid, create_time), timeout_s, 0.1,
                          what=f"process {pid} to exit")
    except TimedOut:
        return False
