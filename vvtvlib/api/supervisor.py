"""``vvtvctl api up|down|status``: a supervisor process that runs the API's children.

    emulators (one per ``[providers.emulator]``, ``command_for``) -> redis-server (limits
    ``redis``) -> pool-api (uvicorn, ``--workers N``) -> nginx (profile ``nginx``)

Limits: ``memory`` (one worker), ``sqlite`` (``data/tenants.sqlite``, shared by the workers
of this node), ``redis`` (its own redis-server; shared by every worker and node).

``python -m vvtvlib.api.supervisor --root R ...`` runs it in the foreground; ``api_up``
starts it detached and returns once ``/v1/health/ready`` answers 200; ``api_down`` sends
SIGTERM, and the supervisor stops its children in reverse order (nginx with SIGQUIT so
open requests finish, uvicorn with SIGTERM so it drains). ``api/run/state.json`` names
every process, URL and the limits backend. When pool-api, redis-server or nginx exits on its
own the supervisor stops the others and exits; an emulated provider that exits is logged and
left to the pool (its breaker opens, the others answer, readiness says whether any is left).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from vvtvlib.core.errors import DependencyMissing, TimedOut, UsageError
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.log import get_logger
from vvtvlib.core.wait import wait_until
from vvtvlib.pool.config import load_pool_config, providers_path
from vvtvlib.pool.emulator.process import _die_with_parent, command_for, free_port

from . import gateway
from .config import ApiLayout, load_api_config
from .protocols import HTTP_PROTOCOL

PROFILES = ("embedded", "nginx")
BACKENDS = ("memory", "sqlite", "redis")


@dataclass
class Child:
    name: str
    pid: int
    cmd: list[str]
    url: str | None = None
    # an emulated provider stands for a remote one: its death is the pool's business (the
    # breaker, fail-over, readiness), not a reason to stop the API
    essential: bool = True


@dataclass
class ApiState:
    supervisor_pid: int
    profile: str
    workers: int
    limits: str  # the backend's URI
    base_url: str
    urls: dict[str, str]
    children: list[Child] = field(default_factory=list)
    worker_user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_options(profile: str, workers: int, limits: str) -> None:
    if profile not in PROFILES:
        raise UsageError(f"--profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if limits not in BACKENDS:
        raise UsageError(f"--limits must be one of {', '.join(BACKENDS)}, got {limits!r}")
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if workers > 1 and limits == "memory":
        raise UsageError(f"--workers {workers} needs a shared limits backend: the memory "
                         "backend would give every worker its own limits and nonces; "
                         "use --limits sqlite (this node) or --limits redis")


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None
           ) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env=env, preexec_fn=_die_with_parent)


def _listening(port: int, host: str = "127.0.0.1", timeout_s: float = 0.2) -> bool:
    """Something accepts connections on ``host:port``."""
    import socket

    with socket.socket() as s:
        s.settimeout(timeout_s)
        return s.connect_ex((host, port)) == 0


def _wait_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout_s: float = 60
               ) -> None:
    def listening() -> bool:
        if proc.poll() is not None:
            raise DependencyMissing(f"{name} exited at start (see logs/api_supervisor.log)")
        return _listening(port)

    wait_until(listening, timeout_s, 0.05, on_timeout=lambda: TimedOut(
        f"{name} did not listen on port {port} within {timeout_s:.0f} s"))


def _check_port_free(url: str, what: str) -> None:
    """Refuse a port another process listens on: the API would talk to whatever serves it
    (another lab's emulator, with its own faults) and its own child would die at once."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    if _listening(u.port or 80, u.hostname or "127.0.0.1", 0.5):
        raise DependencyMissing(f"port {u.port} of {what} is already in use by another "
                                    "process; give this root its own ports (`vvtvctl api "
                                    "init --force --provider-ports A,B,C`) or stop the other "
                                    "lab")


class Supervisor:
    def __init__(self, root: str | Path, profile: str, workers: int, limits: str) -> None:
        check_options(profile, workers, limits)
        self.layout = ApiLayout(root)
        self.config = load_api_config(root)
        self.profile, self.workers, self.limits = profile, workers, limits
        self.procs: list[tuple[Child, subprocess.Popen[bytes]]] = []
        self.log = get_logger("api-supervisor", path=self.layout.logs / "api_supervisor.log")
        self.out = self.layout.logs / "api_supervisor.out"
        self.stopping = False

    def _add(self, name: str, cmd: list[str], url: str | None = None,
             env: dict[str, str] | None = None, essential: bool = True
             ) -> subprocess.Popen[bytes]:
        proc = _spawn(cmd, self.out, env)
        self.procs.append((Child(name, proc.pid, cmd, url, essential), proc))
        self.log.info("started", child=name, pid=proc.pid)
        return proc

    def start(self) -> ApiState:
        lay, s = self.layout, self.config.server
        lay.run.mkdir(parents=True, exist_ok=True)
        pool_cfg = load_pool_config(providers_path(lay.root))
        for p in pool_cfg.providers:
            cmd = command_for(p)
            if cmd is not None:  # its call log carries the callers' W3C traces
                _check_port_free(p.base_url, f"the emulated provider {p.id}")
                lay.logs.mkdir(parents=True, exist_ok=True)
                cmd += ["--log", str(lay.logs / f"emulator_{p.id}.jsonl")]
                self._add(f"emulator:{p.id}", cmd, p.base_url, essential=False)
        uri = "memory://"
        if self.limits == "sqlite":  # the seed's nonces table, shared by the workers
            uri = f"sqlite://{lay.tenants_db}"
        if self.limits == "redis":
            exe = shutil.which("redis-server")
            if exe is None:
                raise DependencyMissing("redis-server is not installed (apt-get install "
                                        "redis-server)")
            port = free_port()
            (lay.run / "redis").mkdir(exist_ok=True)
            proc = self._add("redis", [exe, "--port", str(port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir",
                                       str(lay.run / "redis"), "--daemonize", "no"],
                             f"redis://127.0.0.1:{port}/0")
            _wait_port(port, proc, "redis-server")
            uri = f"redis://127.0.0.1:{port}/0"
        prom = lay.run / "prometheus"  # multiprocess metrics: emptied at every start
        shutil.rmtree(prom, ignore_errors=True)
        prom.mkdir(parents=True, mode=0o700)
        env = {**os.environ, "VVTV_ROOT": str(lay.root), "VVTV_API_LIMITS": uri,
               "PYTHONUNBUFFERED": "1", "PROMETHEUS_MULTIPROC_DIR": str(prom)}
        api_url = f"http://{s.host}:{s.port}"
        proc = self._add("pool-api", [sys.executable, "-m", "uvicorn",
                                      "vvtvlib.api.app:app_from_env", "--factory",
                                      "--host", s.host, "--port", str(s.port),
                                      "--workers", str(self.workers), "--loop", "uvloop",
                                      "--http", HTTP_PROTOCOL, "--no-access-log",
                                      "--log-level", "warning", "--timeout-graceful-shutdown",
                                      "10", "--timeout-keep-alive",
                                      str(gateway.POOL_API_KEEPALIVE_S)], api_url, env)
        _wait_port(s.port, proc, "pool-api", 60)  # N workers import on a busy host
        urls = {"pool_api": api_url}
        base, worker_user = api_url, None
        if self.profile == "nginx":
            token = lay.gateway_token.read_text().strip()
            plan = gateway.render(lay, self.config, token)
            gateway.test_config(plan)
            proc = self._add("nginx", gateway.command(plan),
                             f"http://127.0.0.1:{s.gateway_port}")
            _wait_port(s.gateway_port, proc, "nginx")
            base = urls["gateway"] = f"http://127.0.0.1:{s.gateway_port}"
            urls["gateway_tls"] = f"https://127.0.0.1:{s.tls_port}"
            worker_user = plan.worker_user
        state = ApiState(os.getpid(), self.profile, self.workers, uri, base, urls,
                         [c for c, _ in self.procs], worker_user)
        atomic_write(lay.state_json, json.dumps(state.to_dict(), indent=2) + "\n")
        return state

    def stop(self) -> None:
        for child, proc in reversed(self.procs):
            if proc.poll() is not None:
                continue
            sig = signal.SIGQUIT if child.name == "nginx" else signal.SIGTERM
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.log.info("stopped", child=child.name, returncode=proc.returncode)
        self.procs.clear()
        with contextlib.suppress(FileNotFoundError):
            self.layout.state_json.unlink()

    def run(self) -> int:
        def on_signal(*_: object) -> None:
            self.stopping = True
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            self.start()
            gone: set[int] = set()
            while not self.stopping:
                for child, proc in self.procs:
                    if proc.poll() is None or child.pid in gone:
                        continue
                    gone.add(child.pid)
                    if child.essential:
                        self.log.error("child exited", child=child.name,
                                       returncode=proc.returncode)
                        self.stopping = True
                    else:  # the pool sees a provider down; the API goes on
                        self.log.error("provider exited; the API goes on without it",
                                       child=child.name, returncode=proc.returncode)
                time.sleep(0.2)
        except Exception as exc:
            self.log.error("supervisor failed", error=str(exc)[:300])
            sys.stderr.write(f"error: {exc}\n")
            self.stop()
            return 1
        self.stop()
        return 0


# -- the operator's side ---------------------------------------------------------------------
def read_state(root: str | Path | None) -> ApiState | None:
    path = ApiLayout(root).state_json
    try:
        d = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    d["children"] = [Child(**c) for c in d.get("children", [])]
    return ApiState(**d)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def ready(base_url: str, timeout_s: float = 2.0) -> bool:
    try:
        return httpx.get(f"{base_url}/v1/health/ready", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def api_status(root: str | Path | None) -> dict[str, Any]:
    st = read_state(root)
    if st is None or not _alive(st.supervisor_pid):
        return {"up": False, "ready": False, "processes": []}
    return {"up": True, "ready": ready(st.base_url), "profile": st.profile,
            "workers": st.workers, "limits": st.limits, "base_url": st.base_url,
            "urls": st.urls, "worker_user": st.worker_user,
            "supervisor": {"pid": st.supervisor_pid, "alive": True},
            "processes": [{**asdict(c), "alive": _alive(c.pid)} for c in st.children]}


def api_up(root: str | Path | None, *, profile: str = "embedded", workers: int = 1,
           limits: str = "memory", timeout_s: float = 60) -> dict[str, Any]:
    check_options(profile, workers, limits)
    lay = ApiLayout(root)
    if not lay.api_toml.exists():
        raise DependencyMissing(f"{lay.root} has no API (run `vvtvctl api init --root "
                                f"{lay.root}`)", path=lay.api_toml)
    load_api_config(root)  # a config error is reported here, not in a detached process
    current = api_status(root)
    if current["up"]:
        if (current["profile"], current["workers"]) != (profile, workers) or \
                not str(current["limits"]).startswith(limits):
            raise UsageError("the API is already up with other options; run `vvtvctl api "
                             "down` first")
        return current
    lay.logs.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        lay.state_json.unlink()
    cmd = [sys.executable, "-m", "vvtvlib.api.supervisor", "--root", str(lay.root),
           "--profile", profile, "--workers", str(workers), "--limits", limits]
    out = lay.logs / "api_supervisor.out"
    with out.open("ab") as fh:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh,
                                start_new_session=True, cwd=str(lay.root),
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    def up_and_ready() -> bool:
        if proc.poll() is not None:
            tail = out.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise DependencyMissing(f"the API supervisor exited at start: {tail[0][-300:]}")
        st = read_state(root)
        return st is not None and ready(st.base_url, 1.0)

    try:
        wait_until(up_and_ready, timeout_s, 0.1, on_timeout=lambda: TimedOut(
            f"/v1/health/ready did not answer 200 within {timeout_s:.0f} s"))
    except TimedOut:
        api_down(root)
        raise
    return api_status(root)


def api_down(root: str | Path | None, timeout_s: float = 30) -> dict[str, Any]:
    st = read_state(root)
    if st is None or not _alive(st.supervisor_pid):
        with contextlib.suppress(FileNotFoundError):
            ApiLayout(root).state_json.unlink()
        return {"was_running": False, "graceful": True}
    t0 = time.monotonic()
    os.kill(st.supervisor_pid, signal.SIGTERM)
    graceful = True
    try:
        psutil.Process(st.supervisor_pid).wait(timeout_s)
    except psutil.TimeoutExpired:
        graceful = False
        with contextlib.suppress(ProcessLookupError):
            os.kill(st.supervisor_pid, signal.SIGKILL)
    except psutil.NoSuchProcess:
        pass
    for c in st.children:  # none may outlive an ungraceful stop
        if _alive(c.pid):
            graceful = False
            with contextlib.suppress(ProcessLookupError):
                os.kill(c.pid, signal.SIGKILL)
    return {"was_running": True, "graceful": graceful,
            "elapsed_s": round(time.monotonic() - t0, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vvtvlib.api.supervisor")
    ap.add_argument("--root", required=True)
    ap.add_argument("--profile", default="embedded", choices=PROFILES)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--limits", default="memory", choices=BACKENDS)
    a = ap.parse_args(argv)
    return Supervisor(a.root, a.profile, a.workers, a.limits).run()


if __name__ == "__main__":
    sys.exit(main())
