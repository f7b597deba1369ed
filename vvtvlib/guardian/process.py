"""The guardian as a detached process: pidfile (0600, ``system/run/sleepguardd.pid``), start in
its own session, stop with SIGTERM (it finishes the file it is hashing and exits), and lower
its CPU and I/O priority so guarding never competes with anything else on the host."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import psutil

from vvtvlib.core.errors import CheckFailed, TimedOut, UsageError
from vvtvlib.core.pidfile import held, read_pid

from .paths import GuardianPaths

_MARK = "sleepguardd"


def _is_guardian(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return any(_MARK in part for part in proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def running_pid(paths: GuardianPaths) -> int | None:
    """The pid of a live guardian for this root, or None (a stale pidfile is ignored)."""
    pid = read_pid(paths.pidfile)
    return pid if pid is not None and _is_guardian(pid) else None


def pidfile(paths: GuardianPaths) -> contextlib.AbstractContextManager[None]:
    return held(paths.pidfile, _is_guardian, f"a guardian already guards {paths.root}")


def lower_priority() -> None:
    """nice 10 and idle I/O class where the OS allows it (best effort)."""
    with contextlib.suppress(OSError):
        os.nice(10)
    with contextlib.suppress(Exception):
        psutil.Process().ionice(psutil.IOPRIO_CLASS_IDLE)


@dataclass(frozen=True)
class Started:
    pid: int
    command: list[str]
    log: str


def start_detached(paths: GuardianPaths, *, interval_s: float | None = None,
                   sample: int | None = None, extra: list[str] | None = None,
                   timeout_s: float = 60.0) -> Started:
    """Start ``sleepguardd`` in its own session; return once it has anchored its baseline and
    written its pidfile (or raise with the reason it gave)."""
    other = running_pid(paths)
    if other is not None:
        raise UsageError(f"a guardian already guards {paths.root} (pid {other})",
                         path=paths.pidfile)
    cmd = [sys.executable, "-m", "vvtvlib.cli.sleepguardd", "--root", str(paths.root)]
    if interval_s is not None:
        cmd += ["--interval", f"{interval_s:g}"]
    if sample is not None:
        cmd += ["--sample", str(sample)]
    cmd += extra or []
    paths.log.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd,
                                start_new_session=True, close_fds=True)
    finally:
        os.close(log_fd)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailed(f"the guardian exited with code {proc.returncode} at start: "
                              f"{_last_line(paths)}", path=paths.log)
        if running_pid(paths) == proc.pid:
            return Started(proc.pid, cmd, str(paths.log))
        time.sleep(0.05)
    proc.terminate()
    raise TimedOut(f"the guardian did not start within {timeout_s:g} s", path=paths.log)


def _last_line(paths: GuardianPaths) -> str:
    try:
        lines = [ln for ln in paths.log.read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return "no log"
    return lines[-1].strip() if lines else "no output"


def stop_guardian(paths: GuardianPaths, *, timeout_s: float = 30.0) -> int | None:
    """Stop the guardian of this root; return its pid (None: none was running)."""
    pid = running_pid(paths)
    if pid is None:
        with contextlib.suppress(FileNotFoundError):
            paths.pidfile.unlink()
        return None
    proc = psutil.Process(pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    with contextlib.suppress(FileNotFoundError):
        paths.pidfile.unlink()
    return pid
