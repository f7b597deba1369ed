"""A short-lived Debian Prometheus for checks and drills: scrapes the given targets with the
generated rules loaded, on 127.0.0.1, with its data in a folder of the caller's."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from vvtvlib.core.errors import DependencyMissing, TimedOut
from vvtvlib.core.wait import wait_until


@dataclass(frozen=True)
class PrometheusRun:
    url: str
    config: Path
    proc: subprocess.Popen[bytes]

    def rules_loaded(self) -> int:
        data = httpx.get(f"{self.url}/api/v1/rules", timeout=5).json()
        return sum(len(g["rules"]) for g in data["data"]["groups"])

    def targets_up(self) -> int:
        data = httpx.get(f"{self.url}/api/v1/targets", timeout=5).json()
        return sum(t["health"] == "up" for t in data["data"]["activeTargets"])


def prometheus_exe() -> str:
    exe = shutil.which("prometheus")
    if exe is None:
        raise DependencyMissing("prometheus is not installed (Debian package `prometheus`)")
    return exe


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def run_prometheus(targets: list[str], rules: Path | None, workdir: Path, *,
                   scrape_interval: str = "1s", timeout_s: float = 30.0
                   ) -> Iterator[PrometheusRun]:
    """``targets``: ``/metrics`` URLs (``http://host:port/metrics``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    static = [httpx.URL(t) for t in targets]
    config = {"global": {"scrape_interval": scrape_interval,
                         "evaluation_interval": scrape_interval},
              "scrape_configs": [{"job_name": f"vvtv-{i}", "metrics_path": u.path or "/metrics",
                                  "static_configs": [{"targets": [f"{u.host}:{u.port}"]}]}
                                 for i, u in enumerate(static)]}
    if rules is not None:
        config["rule_files"] = [str(rules.resolve())]
    cfg = workdir / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("ab")
    proc = subprocess.Popen([prometheus_exe(), f"--config.file={cfg}",
                             f"--storage.tsdb.path={workdir / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        def is_ready() -> bool:
            if proc.poll() is not None:
                raise DependencyMissing(f"prometheus exited with {proc.returncode}; "
                                        f"see {workdir / 'prometheus.log'}")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
            return False

        wait_until(is_ready, timeout_s, 0.2, on_timeout=lambda: TimedOut(
            f"prometheus did not become ready in {timeout_s:g} s"))
        yield PrometheusRun(url, cfg, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
