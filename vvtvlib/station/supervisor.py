"""Bring the station up and down: ``station_up`` / ``station_down`` and the process entry.

``python -m vvtvlib.station.supervisor --root R [--no-ingest]`` runs the supervisor in the
foreground (systemd uses that); ``station_up`` starts it detached and waits until it
serves: the first HLS segment with ingest, or ``/status`` without.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import DependencyMissing, TimedOut
from vvtvlib.core.layout import StationLayout

from .config import load_station_config
from .control import StationStatus, as_layout, broadcaster_start, status, wait_serving
from .runtime import (
    clear_runtime,
    kill_orphans,
    read_pidfile,
    read_runtime,
    supervisor_alive,
    wait_gone,
)
from .state import ControlStore, ResumePoint

_spawned: list[subprocess.Popen[bytes]] = []


def _reap() -> None:
    for proc in list(_spawned):
        if proc.poll() is not None:
            _spawned.remove(proc)


def station_up(layout: StationLayout | str | Path, timeout_s: float = 60,
               ingest: bool = True) -> StationStatus:
    """Start the supervisor (idempotent) and wait until it serves; recovers after a crash."""
    layout = as_layout(layout)
    if not ControlStore(layout).exists():
        raise DependencyMissing(f"{layout.root} is not an initialised station "
                                "(run `vvtvctl station init`)", path=layout.root)
    load_station_config(layout)  # a config error is reported here, not in a detached process
    _reap()
    layout.run.mkdir(parents=True, exist_ok=True)
    # One `up` at a time per station: two would both see it down and both spawn.
    with _up_lock(layout):
        return _station_up_locked(layout, timeout_s, ingest)


@contextlib.contextmanager
def _up_lock(layout: StationLayout) -> Iterator[None]:
    fd = os.open(layout.run / "up.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _station_up_locked(layout: StationLayout, timeout_s: float, ingest: bool
                       ) -> StationStatus:
    if supervisor_alive(layout):
        st = status(layout)
        if ingest and st.up and not st.encoder_running:
            return broadcaster_start(layout, timeout_s=timeout_s)
        return wait_serving(layout, ingest=ingest and st.broadcaster_desired == "on",
                            timeout_s=timeout_s)
    # A previous supervisor died without cleaning up: its children may still hold ports
    # and write HLS. Kill them, then start fresh.
    kill_orphans(layout)
    clear_runtime(layout)
    layout.logs.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "vvtvlib.station.supervisor", "--root", str(layout.root)]
    if not ingest:
        cmd.append("--no-ingest")
    with (layout.logs / "supervisor.out").open("ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, cwd=str(layout.root),
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _spawned.append(proc)
    try:
        return wait_serving(layout, ingest=ingest, timeout_s=timeout_s, proc=proc)
    except TimedOut:
        station_down(layout, timeout_s=10)
        raise


@dataclass(frozen=True)
class StationStopped:
    """What ``station_down`` did: whether a supervisor was running, whether it stopped within
    the timeout (else SIGKILL), the orphans killed, and the resume point it left."""

    was_running: bool
    graceful: bool
    orphans_killed: tuple[int, ...] = ()
    elapsed_s: float | None = None  # None: nothing was running
    resume: ResumePoint | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"was_running": self.was_running, "graceful": self.graceful,
                               "orphans_killed": list(self.orphans_killed)}
        if self.was_running:
            out["elapsed_s"] = self.elapsed_s
            out["resume"] = None if self.resume is None else self.resume.to_dict()
        return out


def station_down(layout: StationLayout | str | Path, timeout_s: float = 30) -> StationStopped:
    """Graceful stop (SIGTERM; the supervisor flushes and quits); SIGKILL after ``timeout_s``.
    Idempotent: a station that is already down only has its stale runtime files cleaned."""
    layout = as_layout(layout)
    _reap()
    info = read_runtime(layout)
    pid = info.pid if info else read_pidfile(layout)
    ctime = info.create_time if info else None
    if pid is None or not supervisor_alive(layout):
        killed = kill_orphans(layout)
        clear_runtime(layout)
        return StationStopped(False, True, tuple(killed))
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    graceful = wait_gone(pid, ctime, timeout_s)
    if not graceful:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, ctime, 5)
    killed = kill_orphans(layout)
    clear_runtime(layout)
    _reap()
    return StationStopped(True, graceful, tuple(killed), round(time.monotonic() - started, 3),
                          ResumePoint.from_dict(ControlStore(layout).get("resume")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vvtvlib.station.supervisor")
    parser.add_argument("--root", default=None)
    parser.add_argument("--no-ingest", action="store_true")
    args = parser.parse_args(argv)
    from .service import run

    layout = StationLayout.at(args.root)
    info = read_runtime(layout)
    if supervisor_alive(layout) and (info is None or info.pid != os.getpid()):
        print(f"a supervisor is already running for {layout.root}", file=sys.stderr)
        return 3
    return run(str(layout.root), ingest=not args.no_ingest)


if __name__ == "__main__":
    sys.exit(main())
