"""``vvtvctl obs up|down|status``: live observability for a lab station.

    obs_up(root) -> ObsState     Prometheus (station, pool-api, emulators; generated rules)
                                 + Alertmanager (severity routes -> the on-call receiver)
    obs_down(root) -> bool       SIGTERM to both, by the pids recorded in obs/state.json
    obs_status(root) -> ObsStatus ready? targets up? rules loaded? the lab time scale

Both are Debian's binaries, started as unprivileged children in their own sessions (they
outlive the command that started them) with their data under ``<root>/obs/``, on free
ports of 127.0.0.1. The lab time scale (``time_scale`` > 1) divides every rule ``for:``
duration and every range window in the rules (the burn-rate windows included) by that
factor, with a floor of a few scrape intervals, so that a game day takes minutes; every
report carries :func:`lab_banner`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from vvtvlib.core.errors import (
    DependencyMissing,
    StationNotRunning,
    TimedOut,
    UsageError,
    VVTVError,
)
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.layout import StationLayout, resolve_root
from vvtvlib.core.wait import wait_until

from . import conventions as conv
from .generate import REPO
from .oncall.receiver import Announcement

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_RANGE = re.compile(r"\[(\w+)(:\w*)?\]")


# -- the lab time scale -----------------------------------------------------------------------
def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``90s``, ``1h30m``); UsageError when it is not one."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"{text!r} is not a Prometheus duration")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    ms = max(1, round(seconds * 1000))
    if ms % 1000:
        return f"{ms}ms"
    s = ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def scale_duration(text: str, factor: float, floor_s: float = 0.0) -> str:
    if factor == 1:
        return text
    return format_duration(max(floor_s, parse_duration(text) / factor))


def scale_expr(expr: str, factor: float, floor_s: float) -> str:
    """Every ``[range]`` and ``[range:step]`` of a PromQL expression divided by ``factor``."""
    def one(m: re.Match[str]) -> str:
        step = m.group(2) or ""
        if step not in ("", ":"):
            step = ":" + scale_duration(step[1:], factor, floor_s / 4)
        return f"[{scale_duration(m.group(1), factor, floor_s)}{step}]"
    return expr if factor == 1 else _RANGE.sub(one, expr)


def scale_rules(text: str, factor: float, scrape_s: float) -> str:
    """The rules file with ``for:``, ``keep_firing_for:`` and range windows shortened by
    ``factor`` (>= 1).

    Ranges keep at least four scrape intervals (a rate needs two samples); ``for:`` and
    ``keep_firing_for:`` keep at least one. Names (``slo:sli_error:ratio_rate5m``) are left
    as they are."""
    if factor < 1:
        raise UsageError(f"the time scale must be at least 1, got {factor:g}")
    doc = yaml.safe_load(text)
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            rule["expr"] = scale_expr(str(rule["expr"]), factor, 4 * scrape_s)
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = scale_duration(str(rule[key]), factor, scrape_s)
    return yaml.safe_dump(doc, sort_keys=False, width=120)


def lab_banner(time_scale: float) -> str:
    """The line every report that used this Prometheus carries."""
    if time_scale == 1:
        return "Production time scale: rule durations and burn-rate windows as generated."
    return (f"LAB TIME SCALE x{time_scale:g}: every alert `for:` duration and every "
            f"burn-rate window is {time_scale:g} times shorter than in production "
            f"(5m -> {format_duration(300 / time_scale)}, 1h -> "
            f"{format_duration(3600 / time_scale)}); results are for the lab only.")


# -- configuration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    job: str  # station | pool-api | emulator
    url: str  # the /metrics URL

    @property
    def hostport(self) -> str:
        u = httpx.URL(self.url)
        return f"{u.host}:{u.port}"


def discover_targets(root: str | Path | None) -> list[Target]:
    """The station's ``/metrics`` (when it runs), pool-api's and every emulator's (when
    ``vvtvctl api up`` runs in the same root). ``obs_up`` keeps those that answer."""
    from vvtvlib.api.supervisor import read_state
    from vvtvlib.station.metrics import metrics_url

    out: list[Target] = []
    with contextlib.suppress(StationNotRunning):
        out.append(Target("station", metrics_url(StationLayout.at(root))))
    api = read_state(root)
    if api is not None:
        if "pool_api" in api.urls:
            out.append(Target("pool-api", api.urls["pool_api"].rstrip("/") + "/metrics"))
        for child in api.children:
            if child.name.startswith("emulator:") and child.url:
                out.append(Target("emulator", child.url.rstrip("/") + "/metrics"))
    return out


def prometheus_config(targets: list[Target], rules: Path, am_port: int,
                      scrape_interval: str) -> dict[str, Any]:
    jobs: dict[tuple[str, str], list[str]] = {}
    for t in targets:
        jobs.setdefault((t.job, httpx.URL(t.url).path or "/metrics"), []).append(t.hostport)
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                   "scrape_timeout": scrape_interval},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": job, "metrics_path": path,
                            "static_configs": [{"targets": hosts}]}
                           for (job, path), hosts in jobs.items()],
    }


SEVERITY_ROUTES = ("critical", "page", "major", "minor", "ticket")


def alertmanager_config(receiver_url: str, time_scale: float) -> dict[str, Any]:
    """One route per severity, each to the on-call receiver's webhook (the alert's
    ``severity`` label travels in the body), with group timings shortened by the time
    scale."""
    def sc(d: str) -> str:
        return scale_duration(d, time_scale, 1.0)
    receivers = [{"name": f"oncall-{s}", "webhook_configs": [
        {"url": receiver_url, "send_resolved": True}]}
        for s in SEVERITY_ROUTES]
    return {
        "route": {"receiver": "oncall-critical", "group_by": ["alertname", "service"],
                  "group_wait": sc("30s"), "group_interval": sc("5m"),
                  "repeat_interval": sc("4h"),
                  "routes": [{"matchers": [f'severity="{s}"'], "receiver": f"oncall-{s}"}
                             for s in SEVERITY_ROUTES]},
        "receivers": receivers,
    }


# -- processes --------------------------------------------------------------------------------
@dataclass
class ObsProc:
    name: str
    pid: int
    url: str
    cmd: list[str]


@dataclass
class ObsState:
    root: str
    time_scale: float
    scrape_interval: str
    receiver_url: str
    rules: str
    targets: list[Target]
    procs: list[ObsProc] = field(default_factory=list)

    @property
    def prometheus_url(self) -> str:
        return next(p.url for p in self.procs if p.name == "prometheus")

    @property
    def alertmanager_url(self) -> str:
        return next(p.url for p in self.procs if p.name == "alertmanager")

    @property
    def banner(self) -> str:
        return lab_banner(self.time_scale)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["banner"] = self.banner
        return d


def obs_dir(root: str | Path | None) -> Path:
    return resolve_root(root) / "obs"


def _state_path(root: str | Path | None) -> Path:
    return obs_dir(root) / "state.json"


def read_obs_state(root: str | Path | None) -> ObsState | None:
    try:
        d = json.loads(_state_path(root).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    d.pop("banner", None)
    d["targets"] = [Target(**t) for t in d["targets"]]
    d["procs"] = [ObsProc(**p) for p in d["procs"]]
    return ObsState(**d)


def _exe(name: str, package: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise DependencyMissing(f"{name} is not installed (apt-get install {package})")
    return exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ours(p: ObsProc) -> bool:
    """The pid still runs the command we started (pids are recycled)."""
    try:
        proc = psutil.Process(p.pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.cmdline()[1:] == p.cmd[1:]
    except (psutil.Error, IndexError):
        return False


def _exports(url: str) -> bool:
    """The target answers its /metrics (an emulator of a release without one is left out)."""
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=3).status_code == 200
    return False


def _ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    return False


def default_receiver_url(root: str | Path | None) -> str:
    """The on-call receiver's webhook: the ``url`` of ``<root>/oncall/receiver.json`` when
    the receiver that wrote it still runs (``vvtvctl oncall receiver`` writes it), else
    ``$VVTV_ONCALL_RECEIVER``, else ``http://127.0.0.1:9095/`` (its default port)."""
    ann = Announcement.read(resolve_root(root) / "oncall")
    if ann is not None:
        return ann.url
    return os.environ.get("VVTV_ONCALL_RECEIVER", "http://127.0.0.1:9095/")


def obs_up(root: str | Path | None, *, time_scale: float = 1.0, scrape_interval: str = "2s",
           receiver_url: str | None = None, extra_targets: list[Target] | None = None,
           rules_source: Path | None = None, timeout_s: float = 30.0) -> ObsState:
    """Start Prometheus and Alertmanager for the station at ``root``; returns once both
    answer ``/-/ready``. UsageError when they already run there."""
    prom_exe = _exe("prometheus", "prometheus")
    am_exe = _exe("prometheus-alertmanager", "prometheus-alertmanager")
    old = read_obs_state(root)
    if old is not None and any(_ours(p) for p in old.procs):
        raise UsageError(f"obs already runs for {resolve_root(root)}; `vvtvctl obs down` first")
    scrape_s = parse_duration(scrape_interval)
    base = obs_dir(root)
    (base / "prometheus" / "data").mkdir(parents=True, exist_ok=True)
    (base / "alertmanager" / "data").mkdir(parents=True, exist_ok=True)
    found = discover_targets(root) + list(extra_targets or [])
    targets = [t for t in found if _exports(t.url)]
    if not targets:
        raise StationNotRunning(f"nothing to scrape under {resolve_root(root)}: start the "
                                "station (`vvtvctl station up`) or the API (`vvtvctl api up`)")
    source = rules_source or REPO / conv.RULES_FILE
    rules = base / "prometheus" / "rules.yaml"
    atomic_write(rules, scale_rules(source.read_text(), time_scale, scrape_s))
    receiver = receiver_url or default_receiver_url(root)
    am_port, am_cluster, prom_port = free_port(), free_port(), free_port()
    am_cfg = base / "alertmanager" / "alertmanager.yml"
    atomic_write(am_cfg, yaml.safe_dump(alertmanager_config(receiver, time_scale),
                                        sort_keys=False))
    prom_cfg = base / "prometheus" / "prometheus.yml"
    atomic_write(prom_cfg, yaml.safe_dump(
        prometheus_config(targets, rules, am_port, scrape_interval), sort_keys=False))
    cmds = {
        "alertmanager": ([am_exe, f"--config.file={am_cfg}",
                          f"--storage.path={base / 'alertmanager' / 'data'}",
                          f"--web.listen-address=127.0.0.1:{am_port}",
                          f"--cluster.listen-address=127.0.0.1:{am_cluster}",
                          "--cluster.advertise-address=127.0.0.1:" + str(am_cluster),
                          "--log.level=warn"], f"http://127.0.0.1:{am_port}"),
        "prometheus": ([prom_exe, f"--config.file={prom_cfg}",
                        f"--storage.tsdb.path={base / 'prometheus' / 'data'}",
                        f"--web.listen-address=127.0.0.1:{prom_port}",
                        "--web.enable-lifecycle", "--log.level=warn"],
                       f"http://127.0.0.1:{prom_port}"),
    }
    state = ObsState(str(resolve_root(root)), time_scale, scrape_interval, receiver,
                     str(rules), targets)
    for name, (cmd, url) in cmds.items():
        with (base / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        state.procs.append(ObsProc(name, proc.pid, url, cmd))
    atomic_write(_state_path(root), json.dumps(state.to_dict(), indent=2) + "\n")
    def all_ready() -> bool:
        for p in state.procs:
            if not _ready(p.url):
                if not _ours(p):
                    raise DependencyMissing(f"{p.name} exited at start; see "
                                            f"{base / p.name}.log")
                return False
        return True

    try:
        wait_until(all_ready, timeout_s, 0.2, on_timeout=lambda: TimedOut(
            f"{next((p.name for p in state.procs if not _ready(p.url)), 'obs')} was not ready "
            f"within {timeout_s:g} s"))
    except VVTVError:
        obs_down(root)
        raise
    return state


def obs_down(root: str | Path | None, timeout_s: float = 15.0) -> bool:
    """Stop what ``obs_up`` started (only processes that are still ours); True when any
    ran. The data folders stay for the reports."""
    state = read_obs_state(root)
    if state is None:
        return False
    ran = False
    for p in reversed(state.procs):
        if not _ours(p):
            continue
        ran = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM)
        with contextlib.suppress(psutil.Error):
            try:
                psutil.Process(p.pid).wait(timeout_s)
            except psutil.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        _state_path(root).unlink()
    return ran


@dataclass
class ObsStatus:
    running: bool
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    time_scale: float = 1.0
    banner: str = ""
    ready: dict[str, bool] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)  # scrape URL -> up | down | unknown
    rules_loaded: int = 0
    firing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def obs_status(root: str | Path | None) -> ObsStatus:
    state = read_obs_state(root)
    if state is None or not any(_ours(p) for p in state.procs):
        return ObsStatus(False)
    st = ObsStatus(True, state.prometheus_url, state.alertmanager_url, state.time_scale,
                   state.banner, {p.name: _ours(p) and _ready(p.url) for p in state.procs})
    prom = PromClient(state.prometheus_url)
    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
        st.targets = {t["scrapeUrl"]: t["health"] for t in prom.get("targets")["activeTargets"]}
        st.rules_loaded = sum(len(g["rules"]) for g in prom.get("rules")["groups"])
        st.firing = sorted({a["labels"]["alertname"] for a in prom.get("alerts")["alerts"]
                            if a["state"] == "firing"})
    return st


# -- queries ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromClient:
    url: str
    timeout_s: float = 10.0

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=self.timeout_s)
        body = r.json()
        if body.get("status") != "success":
            raise UsageError(f"Prometheus said {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.get("query", query=expr)["result"])

    def query_range(self, expr: str, start: float, end: float, step: float
                    ) -> list[dict[str, Any]]:
        return list(self.get("query_range", query=expr, start=start, end=end,
                             step=step)["result"])

    def scalar(self, expr: str) -> float | None:
        """The first sample's value, None when the query returns no series."""
        res = self.query(expr)
        return float(res[0]["value"][1]) if res else None

    def alert_states(self) -> dict[str, str]:
        """alertname -> pending | firing (the worst of its instances)."""
        out: dict[str, str] = {}
        for a in self.get("alerts")["alerts"]:
            name = a["labels"]["alertname"]
            if out.get(name) != "firing":
                out[name] = a["state"]
        return out


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    query: str
    series: int  # how many series the query returned now

    @property
    def has_data(self) -> bool:
        return self.series > 0


def dashboard_coverage(prometheus_url: str, dashboards: Path | None = None
                       ) -> list[PanelQuery]:
    """Run every query of ``dashboards/*.json`` against this Prometheus."""
    from .dashboards import dashboard_queries

    prom = PromClient(prometheus_url)
    folder = dashboards or REPO / "dashboards"
    return [PanelQuery(f.stem, q, len(prom.query(q)))
            for f in sorted(folder.glob("*.json")) for q in dashboard_queries(f.read_text())]


def reload_prometheus(url: str) -> None:
    httpx.post(f"{url}/-/reload", timeout=10).raise_for_status()


__all__ = ["ObsProc", "ObsState", "ObsStatus", "PanelQuery", "PromClient", "Target",
           "alertmanager_config", "dashboard_coverage", "discover_targets", "format_duration",
           "lab_banner", "obs_down", "obs_status", "obs_up", "parse_duration",
           "prometheus_config", "read_obs_state", "reload_prometheus", "scale_duration",
           "scale_expr", "scale_rules"]
