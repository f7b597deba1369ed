"""Game days: Chaos Toolkit experiments (``chaos/gameday-*.json``) whose steady state is the
SLO probes on the live Prometheus of ``vvtvctl obs``, with the paging path checked.

Activities (plain functions, JSON arguments, JSON-able results, for Chaos Toolkit):

    begin(root, gameday)                       a fresh record; obs must run
    mark(root, gameday, event)                 a timestamped event (fault start / end)
    restart_encoder(root, gameday)             SIGTERM the station's FFmpeg; wait for the
                                               supervisor's restart (a fault window)
    kill_provider / heal_providers             a provider down under load, then healed
    probes: obs_ready, segment_age_below, alerts_quiet, segment_age_criterion,
            provider_back, api_slo_held, alert_expectations, paging_path,
            one_page_per_incident
    rollback: ensure_encoder_up

Every activity appends to ``<root>/obs/gamedays/<gameday>/record.json``; ``run_gameday``
runs the experiment with the venv's ``chaos``, then ``render_report`` writes the journal and
a Markdown report (SLI timeline with the fault window, alert states, pages, PASS/FAIL per
criterion, the lab time scale) to ``reports/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from vvtvlib.core.errors import (
    CheckFailed,
    DependencyMissing,
    StationNotRunning,
    TimedOut,
    UsageError,
)
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.stats import RateCheck, check_rate
from vvtvlib.core.wait import wait_until

from .generate import REPO
from .obs import PromClient, lab_banner, obs_dir, read_obs_state
from .runbooks import anchors

GAMEDAYS = ("encoder-restart", "io-throttle", "kill-provider", "gateway-latency")
_API_P95 = ('histogram_quantile(0.95, sum by (le) (rate(api_http_duration_ms_bucket'
            '{route="/v1/infer"}[10s])))')
_API_5XX = ('100 * (sum(rate(api_requests_total{code=~"5.."}[10s])) or vector(0)) '
            '/ sum(rate(api_requests_total[10s]))')
# The SLIs each report plots (title, PromQL), read back from Prometheus.
TIMELINES: dict[str, list[tuple[str, str]]] = {
    "encoder-restart": [("newest segment age (s)", "max(stream_segment_age_seconds)")],
    "io-throttle": [("newest segment age (s)", "max(stream_segment_age_seconds)"),
                    ("encoder frames per second",
                     "sum(rate(stream_encoder_frames_total[4s]))")],
    "kill-provider": [("API /v1/infer p95 (ms), 10 s windows", _API_P95),
                      ("API 5xx (% of requests), 10 s windows", _API_5XX),
                      ("pool hedged calls per second", "sum(rate(llmpool_hedges_total[10s]))")],
    "gateway-latency": [("API /v1/infer p95 (ms), 10 s windows", _API_P95),
                        ("API 5xx (% of requests), 10 s windows", _API_5XX)],
}

# the labels an alert gets from its rule and from Prometheus, not from the incident
_RULE_LABELS = {"__name__", "alertname", "alertstate", "service", "severity"}


# -- the record ------------------------------------------------------------------------------
@dataclass
class Event:
    t: float
    event: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Criterion:
    name: str
    passed: bool
    detail: str


@dataclass
class Record:
    gameday: str
    started: float
    time_scale: float
    events: list[Event] = field(default_factory=list)
    criteria: list[Criterion] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    firing_at_begin: list[str] = field(default_factory=list)  # left by earlier faults
    # (firing or pending when the game day began)

    def fault_window(self) -> tuple[float, float] | None:
        start = [e.t for e in self.events if e.event == "fault-start"]
        end = [e.t for e in self.events if e.event == "fault-end"]
        if not start:
            return None
        return start[0], end[-1] if end else time.time()


def _record_path(root: str, gameday: str) -> Path:
    return obs_dir(root) / "gamedays" / gameday / "record.json"


def load_record(root: str, gameday: str) -> Record:
    try:
        d = json.loads(_record_path(root, gameday).read_text())
    except FileNotFoundError:
        raise UsageError(f"no game day {gameday!r} has begun under {root}") from None
    d["events"] = [Event(**e) for e in d["events"]]
    d["criteria"] = [Criterion(**c) for c in d["criteria"]]
    return Record(**d)


def _save(root: str, rec: Record) -> None:
    atomic_write(_record_path(root, rec.gameday), json.dumps(asdict(rec), indent=2) + "\n")


def _prom(root: str) -> PromClient:
    state = read_obs_state(root)
    if state is None:
        raise DependencyMissing(f"obs is not running for {root}: `vvtvctl obs up` first")
    return PromClient(state.prometheus_url)


def _judge(root: str, gameday: str, name: str, passed: bool, detail: str) -> bool:
    rec = load_record(root, gameday)
    rec.criteria = [c for c in rec.criteria if c.name != name] + [Criterion(name, passed,
                                                                            detail)]
    _save(root, rec)
    return passed


# -- activities ------------------------------------------------------------------------------
def begin(root: str, gameday: str) -> dict[str, Any]:
    state = read_obs_state(root)
    if state is None:
        raise DependencyMissing(f"obs is not running for {root}: `vvtvctl obs up` first")
    # pending counts too: its condition already held, it would fire during this game day
    firing = sorted(n for n, st in PromClient(state.prometheus_url).alert_states().items()
                    if st in ("firing", "pending"))
    rec = Record(gameday, time.time(), state.time_scale, [Event(time.time(), "begin")],
                 firing_at_begin=firing)
    _save(root, rec)
    return {"gameday": gameday, "banner": lab_banner(state.time_scale)}


def mark(root: str, gameday: str, event: str, **detail: Any) -> dict[str, Any]:
    rec = load_record(root, gameday)
    rec.events.append(Event(time.time(), event, detail))
    _save(root, rec)
    return {"event": event, "t": rec.events[-1].t}


def observe(root: str, gameday: str, seconds: float | str = 20) -> dict[str, Any]:
    """Let the fault play out while Prometheus records (seconds, real time)."""
    mark(root, gameday, "observe", seconds=float(seconds))
    time.sleep(float(seconds))
    return mark(root, gameday, "observed")


def obs_ready(root: str, quiet: list[str] | None = None, wait_s: float = 30.0) -> bool:
    """Prometheus answers, every target is up and none of the ``quiet`` alerts is pending
    or firing (waits up to ``wait_s``: a Prometheus just started evaluates its absent-metric
    rules before its first scrapes)."""
    prom = _prom(root)

    def ready() -> bool:
        targets = prom.get("targets")["activeTargets"]
        states = prom.alert_states()
        return bool(targets and all(t["health"] == "up" for t in targets)
                    and not any(n in states for n in quiet or []))

    try:
        return wait_until(ready, wait_s, 0.5, what="Prometheus's targets")
    except TimedOut:
        return False


def segment_age_below(root: str, max_s: float = 10.0) -> bool:
    age = _prom(root).scalar("max(stream_segment_age_seconds)")
    return age is not None and age < max_s


def alerts_quiet(root: str, names: list[str]) -> bool:
    states = _prom(root).alert_states()
    return not any(states.get(n) == "firing" for n in names)


def _encoder(root: str) -> psutil.Process:
    from vvtvlib.station.control import status

    st = status(StationLayout.at(root))
    if not st.up or st.pid is None:
        raise StationNotRunning(f"the station at {root} is not running", path=root)
    for p in psutil.Process(st.pid).children(recursive=True):
        if "ffmpeg" in p.name():
            return p
    raise CheckFailed("the station runs no encoder (FFmpeg) to restart")


def restart_encoder(root: str, gameday: str = "encoder-restart",
                    timeout_s: float = 60.0) -> dict[str, Any]:
    """Restart the encoder the operator's way (``vvtvctl streaming restart-encoder``: the
    station's control API, ``encoder/restart``). The fault window is from the request to
    the new encoder."""
    from vvtvlib.station.api import restart_encoder as station_restart

    old = _encoder(root)
    mark(root, gameday, "fault-start", action="vvtvctl streaming restart-encoder",
         pid=old.pid)
    station_restart(StationLayout.at(root))

    def new_encoder() -> int | None:
        try:
            pid = _encoder(root).pid
        except CheckFailed:
            return None
        return pid if pid != old.pid else None

    try:
        new_pid = wait_until(new_encoder, timeout_s, 0.2, on_timeout=lambda: CheckFailed(
            f"no new encoder within {timeout_s:g} s"))
    except CheckFailed:
        mark(root, gameday, "fault-end", new_pid=None)
        raise
    took = time.time() - load_record(root, gameday).fault_window()[0]  # type: ignore[index]
    mark(root, gameday, "fault-end", new_pid=new_pid, restart_s=round(took, 2))
    return {"old_pid": old.pid, "new_pid": new_pid, "restart_s": round(took, 2)}


def ensure_encoder_up(root: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Rollback: the station runs an encoder again (waits for the supervisor)."""
    last: list[CheckFailed] = []

    def encoder_pid() -> int | None:
        try:
            return _encoder(root).pid
        except CheckFailed as exc:
            last[:] = [exc]
            return None

    return {"encoder_pid": wait_until(encoder_pid, timeout_s, 0.5, on_timeout=lambda: (
        last[0] if last else CheckFailed(f"no encoder within {timeout_s:g} s")))}


def _series(root: str, expr: str, start: float, end: float, step: float = 1.0
            ) -> list[tuple[float, float]]:
    res = _prom(root).query_range(expr, start, end, step)
    return [(float(t), float(v)) for t, v in res[0]["values"]] if res else []


def longest_above(points: list[tuple[float, float]], threshold: float) -> float:
    """The longest stretch (seconds) during which consecutive samples exceed threshold."""
    best, since = 0.0, None
    for t, v in points:
        if v > threshold:
            since = t if since is None else since
            best = max(best, t - since)
        else:
            since = None
    return best


def segment_age_criterion(root: str, gameday: str, threshold_s: float = 10.0,
                          max_over_s: float = 120.0) -> bool:
    """Seed: ``stream_segment_age_seconds`` never exceeds ``threshold_s`` for more than
    ``max_over_s`` (real seconds, not scaled), from the begin of the game day to now."""
    rec = load_record(root, gameday)
    pts = _series(root, "max(stream_segment_age_seconds)", rec.started, time.time())
    if not pts:
        return _judge(root, gameday, "segment age", False, "no samples of "
                      "stream_segment_age_seconds in Prometheus")
    over = longest_above(pts, threshold_s)
    peak = max(v for _, v in pts)
    return _judge(root, gameday, "segment age", over <= max_over_s,
                  f"peak {peak:.1f} s; above {threshold_s:g} s for at most {over:.0f} s "
                  f"(limit {max_over_s:g} s), {len(pts)} samples")


def alert_times(series: list[dict[str, Any]]) -> dict[str, list[float]]:
    """alertname -> the sorted times at which any of its series was in the state queried
    (a ``query_range`` result of ``ALERTS``): the union over its series (one per provider
    for PoolProviderDown), so two series firing at once count each second once."""
    out: dict[str, set[float]] = {}
    for s in series:
        out.setdefault(s["metric"]["alertname"], set()).update(float(t) for t, _ in
                                                               s["values"])
    return {name: sorted(ts) for name, ts in out.items()}


def fired_alerts(root: str, start: float, end: float) -> dict[str, list[float]]:
    """alertname -> times (1 s steps) at which it was firing (Prometheus's ``ALERTS``)."""
    return alert_times(_prom(root).query_range('ALERTS{alertstate="firing"}', start, end,
                                               1.0))


def _firing_series(root: str, name: str, start: float, end: float
                   ) -> list[tuple[dict[str, str], list[float]]]:
    """Each firing series of ``name`` (its labels, the times it was firing)."""
    res = _prom(root).query_range(f'ALERTS{{alertname="{name}",alertstate="firing"}}',
                                  start, end, 1.0)
    return [({k: v for k, v in s["metric"].items() if k not in _RULE_LABELS},
             [float(t) for t, _ in s["values"]]) for s in res]


def _fault_start(rec: Record) -> float:
    window = rec.fault_window()
    return window[0] if window else rec.started


def alert_expectations(root: str, gameday: str, firing: list[str], quiet: list[str]
                       ) -> bool:
    """``firing``: each fires after the fault began (a firing left by an earlier fault does
    not count); ``quiet``: none fires during the game day, except one already firing or
    pending when it began (``firing_at_begin``, named in the report)."""
    rec = load_record(root, gameday)
    now, since = time.time(), _fault_start(rec)
    fired = fired_alerts(root, rec.started, now)
    ok = True
    for name in firing:
        series = [(labels, [t for t in ts if t >= since])
                  for labels, ts in _firing_series(root, name, since, now)]
        series = [(labels, ts) for labels, ts in series if ts]
        if not series:
            ok &= _judge(root, gameday, f"{name} fires", False,
                         "never fired after the fault began")
            continue
        first = min(min(ts) for _, ts in series)
        who = "; ".join(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"
                        for labels, _ in series)
        mark(root, gameday, "alert-firing", alert=name, after_fault_s=round(first - since, 1))
        ok &= _judge(root, gameday, f"{name} fires", True,
                     f"firing {first - since:.0f} s after the fault began, for "
                     f"{max(len(ts) for _, ts in series)} s ({who})")
    for name in quiet:
        if name in rec.firing_at_begin:  # a long burn window still holds an earlier fault
            _judge(root, gameday, f"{name} stays quiet", True,
                   "was already firing or pending when the game day began (an earlier "
                   "fault in its window); not counted")
            continue
        hit = name in fired
        ok &= _judge(root, gameday, f"{name} stays quiet", not hit,
                     f"fired for {len(fired[name])} s" if hit else "never fired")
    return ok


def _runbook_ok(url: str) -> tuple[bool, str]:
    path, _, anchor = url.partition("#")
    file = REPO / path
    if not file.is_file():
        return False, f"{path} does not exist"
    return (anchor in anchors(file)), f"{url} " + ("exists" if anchor in anchors(file)
                                                  else "has no such anchor")


def _receiver_pages(receiver: str) -> list[dict[str, Any]]:
    return list(httpx.get(receiver.rstrip("/") + "/pages", timeout=5).json())


def _rule_annotations(root: str, alertname: str) -> dict[str, Any]:
    for g in _prom(root).get("rules")["groups"]:
        for r in g["rules"]:
            if r.get("name") == alertname and r.get("type") == "alerting":
                return {**r.get("labels", {}), **r.get("annotations", {})}
    raise UsageError(f"no alerting rule named {alertname!r} is loaded")


def _received(page: dict[str, Any]) -> float:
    """When the receiver got the firing alert from Alertmanager (epoch seconds)."""
    stamp = str(page.get("received") or page.get("at") or "")
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def paging_path(root: str, gameday: str, alert: str, synthetic: bool = False,
                timeout_s: float = 60.0) -> bool:
    """Alertmanager delivered ``alert`` to the on-call receiver, which paged L1 (the
    escalation applied), and the runbook anchor in the alert exists.

    Without ``synthetic``, ``alert`` is the real alert the fault fires: its page must reach
    the receiver after the fault began (a page left by an earlier game day does not count);
    the time from the fault to the page is recorded (event ``paged``).

    ``synthetic``: for a game day in which no alert should fire, a copy of ``alert``'s rule
    (labels and runbook) is posted to Alertmanager as ``GameDayPagingCheck`` and resolved
    after, so the path is proven without a real incident."""
    state = read_obs_state(root)
    if state is None:
        raise DependencyMissing(f"obs is not running for {root}")
    meta = _rule_annotations(root, alert)
    name = "GameDayPagingCheck" if synthetic else alert
    labels = {"alertname": name, "severity": meta.get("severity", "critical"),
              "service": meta.get("service", ""), "gameday": gameday}
    body: list[dict[str, Any]] = [{"labels": labels,
             "annotations": {"runbook_url": meta.get("runbook_url", ""),
                             "summary": f"game day {gameday}: paging path check for {alert}"}}]
    rec = load_record(root, gameday)
    since = rec.started if synthetic else _fault_start(rec)
    if synthetic:
        httpx.post(f"{state.alertmanager_url}/api/v2/alerts", json=body,
                   timeout=5).raise_for_status()
    pages: list[dict[str, Any]] = []
    with contextlib.suppress(TimedOut):
        # the receiver stamps to the millisecond; one second of slack for the clocks' rounding
        pages = wait_until(lambda: [p for p in _receiver_pages(state.receiver_url)
                                    if p["alert"] == name and _received(p) >= since - 1.0],
                           timeout_s, 0.5, what=f"a page for {name}")
    if synthetic:
        body[0]["endsAt"] = datetime.now(UTC).isoformat()
        httpx.post(f"{state.alertmanager_url}/api/v2/alerts", json=body, timeout=5)
    rec = load_record(root, gameday)
    rec.pages.extend(pages)
    _save(root, rec)
    delivered = bool(pages)
    detail = f"{len(pages)} page(s)" if delivered else f"no page within {timeout_s:g} s"
    if delivered and not synthetic:
        after = min(_received(p) for p in pages) - since
        mark(root, gameday, "paged", alert=name, after_fault_s=round(after, 1))
        detail += f", the first {after:.1f} s after the fault began"
    _judge(root, gameday, f"{name} delivered to the receiver", delivered, detail)
    l1 = [p for p in pages if p.get("level") == 1]
    escalated = bool(l1) and bool(l1[0].get("person"))
    _judge(root, gameday, "the escalation paged L1", escalated,
           f"L1 {l1[0].get('role')} {l1[0].get('person')} paged={l1[0].get('paged')}"
           if l1 else "no L1 page")
    rb_ok, rb_detail = _runbook_ok(str(meta.get("runbook_url", "")))
    _judge(root, gameday, "the runbook anchor in the page exists", rb_ok, rb_detail)
    return delivered and escalated and rb_ok


def incident_key(labels: dict[str, Any]) -> str:
    """What tells one incident of an alert from another: its labels but the rule's own
    (``provider=phi3-mini`` for PoolProviderDown; ``-`` for an alert without any)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())
                    if k not in _RULE_LABELS) or "-"


def l1_pages_per_incident(pages: list[dict[str, Any]], alert: str, since: float
                          ) -> dict[str, int]:
    """incident -> L1 pages the receiver sent for ``alert`` since ``since``: an escalation
    begins with one L1 page, so a count above one is an incident paged again."""
    out: dict[str, int] = {}
    for p in pages:
        if p.get("alert") == alert and p.get("level") == 1 and _received(p) >= since - 1.0:
            key = incident_key(p.get("labels") or {})
            out[key] = out.get(key, 0) + 1
    return out


def episodes(times: list[float], step: float = 1.0) -> list[tuple[float, float]]:
    """Consecutive runs of sample times (``step`` apart): the stretches an alert was firing."""
    out: list[tuple[float, float]] = []
    for t in sorted(times):
        if out and t - out[-1][1] <= 1.5 * step:
            out[-1] = (out[-1][0], t)
        else:
            out.append((t, t))
    return out


def one_page_per_incident(root: str, gameday: str, alert: str, timeout_s: float = 120.0
                          ) -> bool:
    """One incident, one page: each series of ``alert`` that fired after the fault began
    (one per provider for PoolProviderDown) got exactly one L1 page, counted once the
    incident is over: the alert resolved in Prometheus and the receiver closed its
    escalation (Alertmanager's resolved webhook), so a page sent late, when the alert
    resolved and fired again, is counted too."""
    state = read_obs_state(root)
    if state is None:
        raise DependencyMissing(f"obs is not running for {root}")
    since = _fault_start(load_record(root, gameday))
    prom = PromClient(state.prometheus_url)

    def over() -> bool:
        if alert in prom.alert_states():  # firing or pending
            return False
        health = httpx.get(state.receiver_url.rstrip("/") + "/healthz", timeout=5).json()
        return alert not in health.get("open", [])

    try:
        resolved = bool(wait_until(over, timeout_s, 0.5, what=f"{alert} to resolve"))
    except TimedOut:
        resolved = False
    now = time.time()
    fired = {incident_key(labels): episodes([t for t in ts if t >= since])
             for labels, ts in _firing_series(root, alert, since, now)
             if any(t >= since for t in ts)}
    pages = [p for p in _receiver_pages(state.receiver_url)
             if p["alert"] == alert and _received(p) >= since - 1.0]
    counts = l1_pages_per_incident(pages, alert, since)
    rec = load_record(root, gameday)
    seen = {(p["alert"], p.get("received"), p.get("level")) for p in rec.pages}
    rec.pages.extend(p for p in pages if (p["alert"], p.get("received"), p.get("level"))
                     not in seen)
    _save(root, rec)
    if resolved:
        mark(root, gameday, "resolved", alert=alert, after_fault_s=round(now - since, 1))
    parts = [f"{key}: {counts.get(key, 0)} L1 page(s), firing in {len(eps)} stretch(es) "
             f"from +{eps[0][0] - since:.0f} s to +{eps[-1][1] - since:.0f} s"
             for key, eps in sorted(fired.items())]
    parts += [f"{key}: {n} L1 page(s) but never firing" for key, n in sorted(counts.items())
              if key not in fired]
    parts.append("resolved, the receiver closed its escalation" if resolved else
                 f"still firing or open in the receiver after {timeout_s:g} s")
    ok = (resolved and bool(fired) and set(counts) == set(fired)
          and all(n == 1 for n in counts.values()))
    return _judge(root, gameday, f"one {alert} incident, one page", ok, "; ".join(parts))


# -- io-throttle -----------------------------------------------------------------------------
def _station_pids(root: str) -> list[int]:
    from vvtvlib.station.control import status

    st = status(StationLayout.at(root))
    if not st.up or st.pid is None:
        raise StationNotRunning(f"the station at {root} is not running", path=root)
    sup = psutil.Process(st.pid)
    return [sup.pid, *(c.pid for c in sup.children(recursive=True))]


def _throttle_file(root: str, gameday: str) -> Path:
    return _record_path(root, gameday).with_name("throttle.json")


def throttle_station_io(root: str, gameday: str = "io-throttle", bps: int | str = 262144
                        ) -> dict[str, Any]:
    """Limit the station's storage IO (its supervisor and every child, the encoder among
    them) to ``bps`` bytes/s with cgroup v2 ``io.max`` where the kernel allows it, else
    cgroup v1 ``blkio.throttle``; the storage's files are evicted from the page cache so
    the encoder's reads meet the limit."""
    from .iothrottle import apply_throttle, evict_cache, plan_throttle

    bps = int(bps)
    layout = StationLayout.at(root)
    plan = plan_throttle(layout.storage)
    evicted = evict_cache([p for p in layout.storage.rglob("*") if p.is_file()])
    applied = apply_throttle(plan, _station_pids(root), bps,
                             f"vvtv-gameday-{os.getpid()}-{int(time.time())}")
    atomic_write(_throttle_file(root, gameday), json.dumps(applied.to_dict(), indent=2))
    detail = {"mechanism": plan.mechanism, "device": plan.device, "bps": bps,
              "cgroup": applied.cgroup, "processes": len(applied.pids),
              "evicted_files": evicted, "note": plan.note}
    mark(root, gameday, "fault-start", **detail)
    return detail


def lift_station_io(root: str, gameday: str = "io-throttle") -> dict[str, Any]:
    """Method and rollback: the station's processes back in their cgroup, the limit gone
    (does nothing when no throttle is in place)."""
    from .iothrottle import Applied, io_done, lift_throttle

    path = _throttle_file(root, gameday)
    if not path.exists():
        return {"lifted": False}
    applied = Applied.from_dict(json.loads(path.read_text()))
    through = io_done(applied)
    moved = lift_throttle(applied)
    path.unlink()
    with contextlib.suppress(UsageError):
        mark(root, gameday, "fault-end", moved_back=moved, bytes_through_limit=through)
    return {"lifted": True, "moved_back": moved, "bytes_through_limit": through}


def protect_buffer(root: str, gameday: str, min_minutes: float = 30.0, count: int = 3
                   ) -> dict[str, Any]:
    """The runbook's answer to a falling buffer: when ``queue_buffer_duration_minutes`` is
    under ``min_minutes``, append the emergency loop to the queue."""
    from vvtvlib.station.api import inject_emergency

    buf = _prom(root).scalar("min(queue_buffer_duration_minutes)")
    if buf is not None and buf >= min_minutes:
        mark(root, gameday, "buffer-ok", minutes=round(buf, 1), floor=min_minutes)
        return {"buffer_minutes": buf, "emergency": False}
    res = inject_emergency(StationLayout.at(root), count, f"game day {gameday}: buffer low")
    mark(root, gameday, "emergency-loop", minutes=buf, injected=count)
    return {"buffer_minutes": buf, "emergency": True, "result": res.to_dict()}


def stream_went_on(root: str, gameday: str) -> bool:
    """The encoder kept producing frames during the fault window."""
    rec = load_record(root, gameday)
    window = rec.fault_window()
    if window is None:
        return _judge(root, gameday, "the stream goes on", False, "no fault window")
    pts = _series(root, "sum(stream_encoder_frames_total)", window[0], window[1])
    grew = len(pts) >= 2 and pts[-1][1] > pts[0][1]
    frames = pts[-1][1] - pts[0][1] if len(pts) >= 2 else 0
    return _judge(root, gameday, "the stream goes on", grew,
                  f"{frames:.0f} frames encoded during the {window[1] - window[0]:.0f} s "
                  "fault window")


# -- kill-provider and gateway-latency (the public API under load) ---------------------------
def kill_provider(root: str, gameday: str = "kill-provider") -> dict[str, Any]:
    """Take the provider FASTEST prefers down (its emulator answers 503) under load."""
    from vvtvlib.api.chaos import kill_best_provider

    out = kill_best_provider(root)
    mark(root, gameday, "fault-start", action="provider down (503)", **out)
    return out


def heal_providers(root: str, gameday: str = "kill-provider") -> dict[str, Any]:
    """Method and rollback: every provider healed."""
    from vvtvlib.api.chaos import heal_all

    out = heal_all(root)
    with contextlib.suppress(UsageError):
        rec = load_record(root, gameday)
        if rec.fault_window() is not None and not any(e.event == "fault-end"
                                                      for e in rec.events):
            mark(root, gameday, "fault-end", healed=out)
    return out


def _breaker_state(root: str, provider: str, after: float) -> str | None:
    """The provider's breaker in ``pool/health.json`` (the running pool writes it at most once
    a second while it serves), if written after ``after``."""
    from vvtvlib.pool.config import pool_dir

    try:
        data = json.loads((pool_dir(root) / "health.json").read_text())
        if datetime.fromisoformat(data["written_utc"]).timestamp() < after:
            return None
        return next((str(h["breaker"]) for h in data["providers"] if h["id"] == provider),
                    None)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def provider_back(root: str, gameday: str = "kill-provider", timeout_s: float = 60.0,
                  rps: float | str = 8) -> bool:
    """After the heal, the killed provider serves again: its breaker closed. Signed load
    (``rps``, in 1-second windows) goes on until then, because an open breaker probes only
    when a request comes: without traffic it stays open after the load window, the alert
    resolves while the provider is still cut off, and a probe that fails later (the
    emulators' background errors) opens it again, a second incident and a second page for
    one outage. Until the breaker has closed the incident is not over."""
    from vvtvlib.api.chaos import slo_holds

    rec = load_record(root, gameday)
    killed = next((e.detail.get("provider") for e in rec.events if e.event == "fault-start"),
                  None)
    window = rec.fault_window()
    if killed is None or window is None:
        return _judge(root, gameday, "the killed provider is back", False,
                      "no provider was killed")
    healed = window[1]
    sent, fives, state = 0, 0, None

    def closed() -> bool:  # else one more second of load, so that the breaker can probe
        nonlocal sent, fives, state
        state = _breaker_state(root, str(killed), healed)
        if state == "closed":
            return True
        out = slo_holds(root, seconds=1, rps=float(rps))
        sent += int(out["requests"])
        fives += sum(n for code, n in out["status_counts"].items() if code.startswith("5"))
        return False

    with contextlib.suppress(TimedOut):
        wait_until(closed, timeout_s, 0.0, what=f"{killed}'s breaker to close")
    back = state == "closed"
    if back:
        mark(root, gameday, "provider-back", provider=killed,
             after_heal_s=round(time.time() - healed, 1), requests=sent)
    return _judge(root, gameday, "the killed provider is back (breaker closed)", back,
                  f"{killed}'s breaker {state or 'unknown'} {time.time() - healed:.0f} s after "
                  f"the heal, {sent} requests sent meanwhile ({fives} 5xx) to let it probe")


def pool_took_over(root: str, gameday: str) -> bool:
    """During the fault window a breaker opened and the pool hedged (llmpool_* in
    Prometheus)."""
    rec = load_record(root, gameday)
    window = rec.fault_window()
    if window is None:
        return _judge(root, gameday, "breaker opens, hedge takes over", False,
                      "no fault window")
    span = f"{max(2, int(time.time() - window[0]) + 2)}s"
    prom = _prom(root)
    opened = prom.scalar(f"sum(increase(llmpool_breaker_open_total[{span}]))") or 0.0
    hedges = prom.scalar(f"sum(increase(llmpool_hedges_total[{span}]))") or 0.0
    return _judge(root, gameday, "breaker opens, hedge takes over",
                  opened > 0 and hedges > 0,
                  f"breaker openings {opened:.0f}, hedged calls {hedges:.0f} in the last "
                  f"{span} (Prometheus)")


def _count_between(prom: PromClient, selector: str, start: float, end: float) -> int:
    """How many times the counters ``selector`` grew from ``start`` to ``end``: their sum at
    ``end`` minus their sum at ``start`` (a series that did not exist yet counts from 0,
    where ``increase()`` would miss its first increment); whole requests, not an estimate
    extrapolated from the samples."""
    def at(t: float) -> float:
        res = prom.get("query", query=f"sum({selector})", time=t)["result"]
        return float(res[0]["value"][1]) if res else 0.0
    return max(0, round(at(end) - at(start)))


def rate_sentence(what: str, of: str, check: RateCheck) -> str:
    """What was measured and how it was judged, in one sentence for the report."""
    if not check.trials:
        return f"no {of} counted: nothing to judge"
    verdict = "consistent with" if check.consistent else "rules out"
    return (f"{what} {check.events} of {check.trials} {of} ({100 * check.rate:.2f} %; 95 % "
            f"interval {100 * check.low95:.2f}-{100 * check.high95:.2f} %) {verdict} the "
            f"objective {what} < {100 * check.objective:g} %; with {check.trials} {of}, "
            f"{check.fails_from} or more {what} rule it out")


def api_5xx_verdict(bad: int, total: int, objective: float = 0.005) -> tuple[bool, str]:
    """The post-fault 5xx verdict: PASS unless the count rules the objective out (the lower
    end of its Wilson 95 % interval reaches it). A game day's ~170 requests cannot show
    0.5 %: one 5xx is already 0.59 %, and an API exactly at its objective would give at
    least one 5xx in 170 requests in 57 % of game days (a true 0.1 %: one in six). Three
    5xx or more (1.8 %) rule it out, and a regression to 3 % (5 of 170) fails."""
    check = check_rate(bad, total, objective)
    return check.consistent, rate_sentence("5xx", "requests", check)


def api_slo_held(root: str, gameday: str, p95_ms: float = 1200.0,
                 max_5xx: float = 0.005) -> bool:
    """The API SLO over the game day, from Prometheus: p95 of /v1/infer
    (``api_http_duration_ms_bucket``) under ``p95_ms``, and the 5xx of
    ``api_requests_total`` (every request the API answered since the game day began,
    counted exactly) consistent with ``max_5xx`` (:func:`api_5xx_verdict`)."""
    rec = load_record(root, gameday)
    now = time.time()
    span = f"{max(2, int(now - rec.started) + 2)}s"
    prom = _prom(root)
    p95 = prom.scalar("histogram_quantile(0.95, sum by (le) (rate(api_http_duration_ms_bucket"
                      f'{{route="/v1/infer"}}[{span}])))')
    total = _count_between(prom, "api_requests_total", rec.started, now)
    bad = _count_between(prom, 'api_requests_total{code=~"5.."}', rec.started, now)
    fives_ok, fives = api_5xx_verdict(bad, total, max_5xx)
    ok = p95 is not None and p95 < p95_ms and total > 0 and fives_ok
    return _judge(root, gameday, f"API SLO holds (p95 < {p95_ms:g} ms; 5xx count consistent "
                  f"with < {100 * max_5xx:g} %)", ok,
                  f"p95 {p95 if p95 is None else round(p95)} ms over {span}; {fives} "
                  "(Prometheus, since the game day began)")


def _gateway_file(root: str, gameday: str) -> Path:
    return _record_path(root, gameday).with_name("gateway.json")


def _reload_nginx(root: str) -> None:
    from vvtvlib.api.supervisor import read_state

    st = read_state(root)
    nginx = [c for c in (st.children if st else []) if c.name == "nginx"]
    if not nginx:
        raise UsageError("the API runs without its nginx gateway: `vvtvctl api up --profile "
                         "nginx` for this game day")
    os.kill(nginx[0].pid, signal.SIGHUP)
    time.sleep(1.0)  # the new workers take over; the old ones finish their requests


def add_gateway_latency(root: str, gameday: str = "gateway-latency",
                        latency_ms: float | str = 500) -> dict[str, Any]:
    """Start a TCP proxy adding ``latency_ms`` to every request, point nginx's upstream at
    it, and reload nginx (the original nginx.conf is kept for the rollback)."""
    from vvtvlib.api.config import ApiLayout, load_api_config

    from .obs import free_port

    lay, port = ApiLayout(root), load_api_config(root).server.port
    conf = lay.nginx_conf.read_text()
    target = f"server 127.0.0.1:{port};"
    if target not in conf:
        raise UsageError(f"{lay.nginx_conf} has no upstream {target!r}")
    listen = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vvtvlib.ops.tcpproxy", "--listen",
                             str(listen), "--to", f"127.0.0.1:{port}", "--latency-ms",
                             str(float(latency_ms))], stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    import socket

    def listening() -> bool:
        if proc.poll() is not None:
            raise DependencyMissing("the latency proxy did not start")
        with socket.socket() as sk:
            return sk.connect_ex(("127.0.0.1", listen)) == 0

    try:
        wait_until(listening, 10, 0.1, on_timeout=lambda: DependencyMissing(
            "the latency proxy did not start"))
    except DependencyMissing:
        proc.kill()
        raise
    atomic_write(_gateway_file(root, gameday), json.dumps(
        {"conf": conf, "proxy_pid": proc.pid, "listen": listen}))
    atomic_write(lay.nginx_conf, conf.replace(target, f"server 127.0.0.1:{listen};"))
    _reload_nginx(root)
    detail = {"proxy": f"127.0.0.1:{listen} -> 127.0.0.1:{port}",
              "latency_ms": float(latency_ms), "proxy_pid": proc.pid}
    mark(root, gameday, "fault-start", action="latency between nginx and pool-api", **detail)
    return detail


def remove_gateway_latency(root: str, gameday: str = "gateway-latency") -> dict[str, Any]:
    """Method and rollback: nginx.conf restored and reloaded, the proxy stopped."""
    from vvtvlib.api.config import ApiLayout

    path = _gateway_file(root, gameday)
    if not path.exists():
        return {"removed": False}
    saved = json.loads(path.read_text())
    atomic_write(ApiLayout(root).nginx_conf, saved["conf"])
    _reload_nginx(root)
    with contextlib.suppress(psutil.Error):
        p = psutil.Process(int(saved["proxy_pid"]))
        if "vvtvlib.ops.tcpproxy" in " ".join(p.cmdline()):
            drained = _drain(p, int(saved["listen"]))
            p.terminate()
            p.wait(10)
            with contextlib.suppress(UsageError):
                mark(root, gameday, "proxy-drained", connections_left=drained)
    path.unlink()
    with contextlib.suppress(UsageError):
        mark(root, gameday, "fault-end", proxy_stopped=True)
    return {"removed": True}


def _drain(proxy: psutil.Process, listen: int, timeout_s: float = 15.0) -> int:
    """Wait until nginx's old workers, which finish their requests after the reload, hold no
    connection to the proxy any more (a request still going through it would get a 502 if
    it stopped now); the connections left at ``timeout_s``."""
    def left() -> int:
        return sum(1 for c in proxy.net_connections(kind="tcp")
                   if c.status == psutil.CONN_ESTABLISHED and c.laddr
                   and c.laddr.port == listen)

    with contextlib.suppress(TimedOut):
        wait_until(lambda: left() == 0, timeout_s, 0.2,
                   what="nginx's old workers to leave the latency proxy")
    return left()


def client_p95_under(root: str, gameday: str, window: str, p95_ms: float = 1500.0) -> bool:
    """The question of the gateway game day, as clients saw it: p95 of the signed load
    window ``window`` (``vvtvlib.api.chaos``' outcome file) under ``p95_ms``."""
    from vvtvlib.api.config import ApiLayout

    out = ApiLayout(root).run / "chaos" / f"{window}.outcome.json"
    data = json.loads(out.read_text())["window"]
    p95 = data.get("p95_ms")
    return _judge(root, gameday, f"API p95 < {p95_ms / 1000:g} s (clients, through nginx)",
                  p95 is not None and p95 < p95_ms,
                  f"p95 {p95} ms over {data.get('requests')} requests, 5xx "
                  f"{data.get('rate_5xx', 0):.2%}")


@dataclass
class Timeline:
    """What a drill plots for one game day (read back from Prometheus after it ran)."""
    gameday: str
    started: float
    ended: float
    fault: tuple[float, float] | None
    slis: dict[str, list[tuple[float, float]]]
    alerts: dict[str, list[float]]  # alertname -> seconds at which it was firing
    pending: dict[str, list[float]]
    pages: list[dict[str, Any]]
    time_scale: float


def timeline(root: str | Path, gameday: str, step: float = 2.0) -> Timeline:
    root = str(root)
    rec = load_record(root, gameday)
    end = max(e.t for e in rec.events) + 3
    start = rec.started - 5
    slis = {}
    for title, expr in TIMELINES.get(gameday, TIMELINES["encoder-restart"]):
        slis[title] = [(t, v) for t, v in _series(root, expr, start, end, step)
                       if v == v and abs(v) != float("inf")]
    pending = alert_times(_prom(root).query_range('ALERTS{alertstate="pending"}', start,
                                                  end, 1.0))
    return Timeline(gameday, rec.started, end, rec.fault_window(), slis,
                    fired_alerts(root, start, end), pending, rec.pages, rec.time_scale)


# -- running and reporting ------------------------------------------------------------------
@dataclass
class GamedayResult:
    gameday: str
    passed: bool
    journal: Path
    report: Path
    criteria: list[Criterion]


def experiment_path(gameday: str) -> Path:
    if gameday not in GAMEDAYS:
        raise UsageError(f"unknown game day {gameday!r}; one of {', '.join(GAMEDAYS)}")
    return REPO / "chaos" / f"gameday-{gameday}.json"


def run_gameday(gameday: str, root: str | Path, out_dir: str | Path, *,
                observe_s: float = 20.0, timeout_s: float = 600.0) -> GamedayResult:
    """Run ``chaos/gameday-<gameday>.json`` against the station at ``root`` (with obs and
    the receiver up), then write its journal and report into ``out_dir``."""
    exp = experiment_path(gameday)
    if not exp.is_file():
        raise DependencyMissing(f"{exp.name} is not in this release yet")
    root = str(Path(root).absolute())
    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    journal = out / f"gameday-{gameday}-{stamp}.journal.json"
    chaos = Path(sys.executable).with_name("chaos")
    if not chaos.exists():
        raise DependencyMissing("chaos (chaostoolkit) is not installed in this environment")
    state = read_obs_state(root)
    # a record even when the steady state fails before anything begins
    _save(root, Record(gameday, time.time(), state.time_scale if state else 1.0,
                       [Event(time.time(), "prepared")]))
    env = {**os.environ, "PYTHONPATH": str(REPO), "VVTV_GAMEDAY_ROOT": root,
           "VVTV_GAMEDAY_OBSERVE_S": f"{observe_s:g}"}
    proc = subprocess.run([str(chaos), "--no-version-check", "--log-file",
                           str(out / f"gameday-{gameday}-{stamp}.chaostoolkit.log"), "run",
                           str(exp), "--journal-path", str(journal), "--rollback-strategy",
                           "always"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout_s)
    if not journal.exists():
        raise CheckFailed(f"chaos wrote no journal: {proc.stderr[-500:]}")
    report = render_report(root, gameday, journal, out / f"gameday-{gameday}-{stamp}.md")
    data = json.loads(journal.read_text())
    rec = load_record(root, gameday)
    passed = journal_passed(data) and bool(rec.criteria) and all(c.passed
                                                                  for c in rec.criteria)
    return GamedayResult(gameday, passed, journal, report,
                         journal_criteria(data) + rec.criteria)


def client_timeline(root: str, gameday: str, data: dict[str, Any], bucket_s: float = 2.0
                    ) -> list[tuple[float, float]]:
    """p95 (ms) per ``bucket_s`` of the signed load window, as the clients measured it
    (``vvtvlib.api.chaos``' outcome file), on the wall clock of the journal."""
    from vvtvlib.api.config import ApiLayout

    f = ApiLayout(root).run / "chaos" / f"gameday-{gameday}.outcome.json"
    start = next((r.get("start") for r in data.get("run", [])
                  if r["activity"]["name"] == "start-a-load-window"), None)
    if not f.exists() or start is None:
        return []
    t0 = datetime.fromisoformat(start).timestamp()
    buckets: dict[int, list[float]] = {}
    for t, status, ms in json.loads(f.read_text()).get("timeline", []):
        if status:
            buckets.setdefault(int(float(t) // bucket_s), []).append(float(ms))
    out = []
    for k in sorted(buckets):
        v = sorted(buckets[k])
        out.append((t0 + k * bucket_s, v[min(len(v) - 1, int(0.95 * len(v)))]))
    return out


def journal_passed(data: dict[str, Any]) -> bool:
    """Chaos Toolkit's journal: completed, not deviated, the steady state met before and
    after, every method activity succeeded."""
    ss = data.get("steady_states") or {}
    return (data.get("status") == "completed" and not data.get("deviated")
            and all((ss.get(w) or {}).get("steady_state_met") for w in ("before", "after"))
            and all(r.get("status") == "succeeded" for r in data.get("run", [])))


def _probe_detail(output: Any) -> str:
    """A probe's output in words: a load window's verdict as a sentence, anything else as is."""
    if isinstance(output, dict) and "requests" in output and "p95_ms" in output:
        n = int(output["requests"])
        bad = sum(int(v) for k, v in (output.get("status_counts") or {}).items()
                  if str(k).startswith("5"))
        codes = ", ".join(f"{v} x {k}" for k, v in sorted((output.get("status_counts")
                                                           or {}).items()))
        slo_ms, slo_5xx = output.get("slo_p95_ms"), output.get("slo_5xx")
        return (f"{n} requests ({codes}): p95 {float(output['p95_ms']):.0f} ms"
                + (f" (SLO {float(slo_ms):.0f} ms)" if slo_ms is not None else "")
                + f", 5xx {bad}/{n}"
                + (f" (SLO {100 * float(slo_5xx):g} %)" if slo_5xx is not None else "")
                + (f", {output['timeouts']} client timeouts" if output.get("timeouts") else ""))
    return f"output {output}"


def journal_criteria(data: dict[str, Any]) -> list[Criterion]:
    """What Chaos Toolkit itself judged: each steady-state probe before and after, and any
    activity of the method that did not succeed (a game day that fails before its fault has
    no other criterion: this says why)."""
    out = []
    ss = data.get("steady_states") or {}
    for when in ("before", "after"):
        for p in (ss.get(when) or {}).get("probes", []):
            out.append(Criterion(f"steady state {when}: {p['activity']['name']}",
                                 bool(p.get("tolerance_met")), _probe_detail(p.get("output"))))
    for r in data.get("run", []):
        if r.get("status") != "succeeded":
            exc = r.get("exception")  # a formatted traceback: its last line says what
            why = str(exc[-1] if isinstance(exc, list) and exc else exc or "").strip()
            out.append(Criterion(f"activity {r['activity']['name']}", False,
                                 f"{r.get('status')}: {why[-300:]}"))
    return out


def _fmt(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def firing_lines(fired: dict[str, list[float]], step: float = 1.0) -> list[str]:
    """The report's "Alerts firing" list: per alert, its first and last firing sample, for
    how long (one ``step`` per sample time of the union of its series, so at most the span
    plus one step however many series fired at once) and in how many stretches when more
    than one."""
    out = []
    for name, times in sorted(fired.items()):
        ts = sorted(set(times))
        if not ts:
            continue
        eps = episodes(ts, step)
        out.append(f"* {name}: firing at {_fmt(ts[0])} .. {_fmt(ts[-1])} "
                   f"({len(ts) * step:.0f} s" + (f", in {len(eps)} stretches)"
                                                 if len(eps) > 1 else ")"))
    return out or ["* none"]


def render_report(root: str, gameday: str, journal: Path, out: Path) -> Path:
    """A Markdown report for someone who was not there."""
    data = json.loads(journal.read_text())
    try:
        rec = load_record(root, gameday)
    except UsageError:  # the steady state did not hold before: nothing began
        rec = Record(gameday, time.time(), 1.0)
    exp = data["experiment"]
    with_end = time.time()
    window = rec.fault_window()
    lines = [f"# Game day: {exp['title']}", "",
             f"> {lab_banner(rec.time_scale)}", "",
             exp.get("description", ""), "",
             f"* Began {datetime.fromtimestamp(rec.started, UTC).isoformat(timespec='seconds')}"
             f", ran {data.get('duration', 0):.0f} s; Chaos Toolkit status **{data['status']}**"
             f", deviated: {data['deviated']}.",
             f"* Fault window: {_fmt(window[0])} -> {_fmt(window[1])} UTC "
             f"({window[1] - window[0]:.1f} s)." if window else "* No fault window recorded.",
             *[f"* IO throttling: **{e.detail['mechanism']}** on device {e.detail['device']} "
               f"at {e.detail['bps']} B/s for {e.detail['processes']} processes "
               f"({e.detail['note']})." for e in rec.events if "mechanism" in e.detail],
             "", "## Verdict per criterion", "", "| criterion | result | detail |",
             "|---|---|---|"]
    for c in rec.criteria:
        lines.append(f"| {c.name} | {'PASS' if c.passed else 'FAIL'} | {c.detail} |")
    verdict = journal_passed(data) and bool(rec.criteria) and all(c.passed
                                                                   for c in rec.criteria)
    for c in journal_criteria(data):
        lines.append(f"| {c.name} | {'PASS' if c.passed else 'FAIL'} | {c.detail} |")
    lines += ["", f"**Overall: {'PASS' if verdict else 'FAIL'}**", "",
              "## What was done", "", "| time (UTC) | phase | activity | status |",
              "|---|---|---|---|"]
    for phase, runs in (("method", data.get("run", [])),
                        ("rollback", data.get("rollbacks", []))):
        for r in runs:
            lines.append(f"| {r.get('start', '')[11:19]} | {phase} | "
                         f"{r['activity']['name']} | {r['status']} |")
    lines += ["", "## Events", ""]
    lines += [f"* {_fmt(e.t)} {e.event} {json.dumps(e.detail) if e.detail else ''}"
              for e in rec.events]
    try:
        fired = fired_alerts(root, rec.started - 5, with_end)
        timelines = [(title, _series(root, expr, rec.started - 5, with_end, 2.0))
                     for title, expr in TIMELINES.get(gameday, TIMELINES["encoder-restart"])]
    except (DependencyMissing, httpx.HTTPError):
        timelines, fired = [], {}
    clients = client_timeline(root, gameday, data)
    if clients:
        timelines.append(("API p95 (ms) as the load's clients measured it, per 2 s", clients))
    for title, raw in timelines:
        pts = [(t, v) for t, v in raw if v == v and abs(v) != float("inf")]  # no NaN
        lines += ["", f"## SLI timeline: {title}, every 2 s", "",
                  "`*` marks the fault window.", "", "```"]
        scale = max([v for _, v in pts] + [1e-9]) / 50
        for t, v in pts:
            inside = window is not None and window[0] <= t <= window[1]
            lines.append(f"{_fmt(t)} {'*' if inside else ' '} {v:9.1f} "
                         f"{'#' * min(50, int(v / scale))}")
        lines.append("```")
    lines += ["", "## Alerts firing during the game day", ""]
    lines += firing_lines(fired)
    lines += ["", "## Pages received by the on-call receiver", ""]
    lines += ([f"* {p['alert']}: L{p.get('level')} {p.get('role')} -> {p.get('person')} "
               f"(paged={p.get('paged')}) at {p.get('at')} {p.get('note', '')}"
               for p in rec.pages] or ["* none"])
    lines += ["", f"Journal: `{journal.name}`. Record: `{_record_path(root, gameday)}`.", ""]
    atomic_write(out, "\n".join(lines))
    return out


__all__ = ["GAMEDAYS", "Criterion", "Event", "GamedayResult", "Record", "alert_expectations",
           "alert_times", "alerts_quiet", "api_5xx_verdict", "api_slo_held", "begin",
           "ensure_encoder_up", "episodes", "experiment_path", "fired_alerts", "firing_lines",
           "incident_key", "l1_pages_per_incident", "load_record", "longest_above", "mark",
           "obs_ready", "observe", "one_page_per_incident", "paging_path", "provider_back",
           "rate_sentence", "render_report", "restart_encoder", "run_gameday",
           "segment_age_below", "segment_age_criterion", "timeline"]
