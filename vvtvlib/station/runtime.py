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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.pidfile import read_pid, write_pid

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
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not same_process(pid, create_time):
            return True
        time.sleep(0.1)
    return not same_process(pid, create_time)
