"""Start and stop emulator processes (one per model) on free 127.0.0.1 ports."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import weakref
from dataclasses import dataclass, field

import httpx

from vvtvlib.core.errors import TimedOut
from vvtvlib.core.wait import wait_until

from ..config import PoolConfig, ProviderConfig

_LIVE: weakref.WeakSet[EmulatorProcess] = weakref.WeakSet()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies (Linux), so none outlives its owner."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@atexit.register
def _stop_leftovers() -> None:
    stop_all(list(_LIVE))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(eq=False)
class EmulatorProcess:
    model: str
    port: int
    latency_ms: str = "0"
    error_rate: float = 0.0
    messy_rate: float = 0.0
    log: str | None = None  # JSONL call log with the callers' traces (--log)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> EmulatorProcess:
        self.spawn()
        return self.wait_ready(timeout_s)

    def spawn(self) -> EmulatorProcess:
        cmd = [sys.executable, "-m", "vvtvlib.pool.emulator", "--model", self.model,
               "--port", str(self.port), "--latency-ms", self.latency_ms,
               "--error-rate", str(self.error_rate), "--messy-rate", str(self.messy_rate)]
        if self.log:
            cmd += ["--log", self.log]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        _LIVE.add(self)
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> EmulatorProcess:
        assert self.proc is not None, "spawn() first"
        proc = self.proc

        def answers() -> bool:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise TimedOut(f"emulator {self.model} exited at start: {err.strip()[-300:]}")
            try:
                return httpx.get(f"{self.base_url}/api/tags", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(answers, timeout_s, 0.05, on_timeout=lambda: TimedOut(
                f"emulator {self.model} did not answer on port {self.port} within "
                f"{timeout_s:.0f} s"))
        except TimedOut:
            self.stop()
            raise
        return self

    def faults(self, **faults: object) -> dict[str, object]:
        data: dict[str, object] = httpx.post(f"{self.base_url}/_faults", json=faults,
                                             timeout=5).json()
        return data

    def clear_faults(self) -> None:
        httpx.delete(f"{self.base_url}/_faults", timeout=5)

    def kill(self) -> None:
        """Kill the process outright (a crashed provider)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass
        if self.proc.stderr:
            self.proc.stderr.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def stop_all(emulators: list[EmulatorProcess]) -> None:
    """Stop every emulator: all are signalled first, then each is waited for."""
    for em in emulators:
        if em.proc is not None and em.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(em.proc.pid, signal.SIGTERM)
    for em in emulators:
        em.stop()


def start_emulators(specs: list[tuple[str, str]], **kwargs: object) -> list[EmulatorProcess]:
    """Start one emulator per (model, latency) spec, all at once; all stopped if one fails."""
    started: list[EmulatorProcess] = []
    try:
        for model, latency in specs:
            em = EmulatorProcess(model, free_port(), latency, **kwargs)  # type: ignore[arg-type]
            started.append(em.spawn())
        for em in started:
            em.wait_ready()
    except BaseException:
        stop_all(started)
        raise
    return started


def config_for(emulators: list[EmulatorProcess], *, kind: str = "ollama",
               weights: list[float] | None = None, **sections: dict[str, object]) -> PoolConfig:
    """A pool config naming ``emulators`` (model name = provider id), weights 1, 2, 3...
    ``sections`` fill ``pool`` and ``breaker`` settings."""
    providers = [ProviderConfig(id=em.model, kind=kind, base_url=em.base_url,  # type: ignore[arg-type]
                                model=em.model,
                                weight=(weights[i] if weights else float(i + 1)))
                 for i, em in enumerate(emulators)]
    return PoolConfig.model_validate({**sections, "providers": [p.model_dump()
                                                                 for p in providers]})


def command_for(provider: ProviderConfig) -> list[str] | None:
    """The command that serves ``provider``'s ``[providers.emulator]`` on its base_url's port
    (what a supervisor such as ``vvtvctl api up`` runs); None when it has no emulator."""
    from urllib.parse import urlsplit

    spec = provider.emulator
    if spec is None:
        return None
    url = urlsplit(provider.base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return [sys.executable, "-m", "vvtvlib.pool.emulator", "--model", provider.model,
            "--host", url.hostname or "127.0.0.1", "--port", str(port),
            "--latency-ms", spec.latency_ms, "--error-rate", str(spec.error_rate),
            "--messy-rate", str(spec.messy_rate)]
