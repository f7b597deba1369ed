"""Chaos Toolkit activities for the public API (``chaos/provider-down.json``,
``chaos/provider-latency.json``, ``chaos/bad-signature-flood.json``).

Plain functions taking primitives (Chaos Toolkit passes the experiment's configuration,
strings included, and records what they return in its journal); a broken expectation raises
``ActivityFailed``. Every activity names the API by its root (``VVTV_CHAOS_API_ROOT``): the
base URL comes from ``api/run/state.json``, the providers from ``pool/providers.toml``.

    actions:  start_load, kill_best_provider, add_latency, flood_bad_signatures, heal_all
    probes:   slo_holds, load_outcome

Load windows are signed open-loop clients (``loadtest.paced_load``) in a thread of the
experiment's process, so ``start_load`` returns at once and ``load_outcome`` joins it and
judges it. A provider is "killed" through its emulator's ``/_faults`` endpoint (it answers
503): killing the process would make the API's supervisor stop everything, and the rollback
(``heal_all``) must be able to bring every provider back.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed

from vvtvlib.core.procstat import tree_cpu_s
from vvtvlib.core.stats import percentile, wilson_low
from vvtvlib.pool.config import load_pool_config, pool_dir, providers_path

from .config import ApiLayout, load_api_config
from .loadtest import (
    HealthFileObserver,
    LoadTenants,
    Sample,
    Signal,
    make_tenants,
    paced_load,
    running_base_url,
    write_samples,
)

__all__ = ["add_latency", "flood_bad_signatures", "heal_all", "kill_best_provider",
           "load_outcome", "slo_holds", "start_load", "within_slo"]

_TENANTS: dict[str, LoadTenants] = {}
_WINDOWS: dict[str, _Window] = {}
_LOCK = threading.Lock()


@dataclass
class _Window:
    thread: threading.Thread
    observer: HealthFileObserver
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0


def _tenant(root: str) -> LoadTenants:
    with _LOCK:
        if root not in _TENANTS:
            _TENANTS[root] = make_tenants(root, "chaos", 200)
            time.sleep(1.1)  # workers re-read tenants within a second
        return _TENANTS[root]


def _body(mix: str, deadline_ms: int | None) -> Any:
    from vvtvlib.pool.lab import sample_payload

    def body(i: int) -> bytes:
        task = "judge" if mix == "large" or (mix == "mixed" and i % 5 == 4) else \
            "expand_queries"
        nonce = time.time_ns()  # a fresh payload: the cache must not answer for the pool
        payload = ({"seed": f"chaos {nonce}"} if task == "expand_queries"
                   else sample_payload(task, nonce % 10**9))
        b: dict[str, Any] = {"task": task, "strategy": "FASTEST", "payload": payload}
        if deadline_ms:
            b["hints"] = {"deadline_ms": int(deadline_ms)}
        return json.dumps(b).encode()
    return body


@dataclass
class WindowStats:
    requests: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None
    status_counts: dict[str, int]
    rate_5xx: float
    rate_502: float
    rate_504: float
    rate_429: float
    timeouts: int
    slo_p95_ms: float
    slo_5xx: float
    p95_over_slo_ms: float
    within_slo: bool
    # the steady-state question on a short window: p95 within the SLO and a 5xx count that
    # does not rule out the SLO's rate (Wilson 95 %: 1 in 40 does not, 2 in 40 do)
    rate_5xx_low95: float = 0.0
    consistent_with_slo: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def window_stats(root: str, samples: list[Sample], seconds: float, *,
                 count_504: bool = True) -> WindowStats:
    slo = load_api_config(root).slo
    n = len(samples) or 1
    ms = [s.ms for s in samples if s.status != 0]
    counts: dict[str, int] = {}
    for s in samples:
        counts[str(s.status)] = counts.get(str(s.status), 0) + 1
    fives = sum(1 for s in samples if s.status >= 500 and (count_504 or s.status != 504))
    p95 = percentile(ms, 95, 2)
    over = round(max(0.0, (p95 or 0) - slo.infer_p95_ms), 2)
    rate_5xx = round(fives / n, 5)
    low95 = round(wilson_low(fives, len(samples)), 5)
    return WindowStats(len(samples), round(len(samples) / seconds, 2) if seconds else 0.0,
                       percentile(ms, 50, 2), p95, max(ms) if ms else None, counts, rate_5xx,
                       round(counts.get("502", 0) / n, 5), round(counts.get("504", 0) / n, 5),
                       round(counts.get("429", 0) / n, 5),
                       sum(1 for s in samples if s.status == 0), slo.infer_p95_ms,
                       slo.error_rate_5xx, over,
                       bool(samples) and p95 is not None and over == 0
                       and rate_5xx < slo.error_rate_5xx, low95,
                       bool(samples) and p95 is not None and over == 0
                       and low95 < slo.error_rate_5xx)


def _reports(root: str) -> Path:
    d = ApiLayout(root).run / "chaos"
    d.mkdir(parents=True, exist_ok=True)
    return d


# -- probes -----------------------------------------------------------------------------------
def slo_holds(root: str, seconds: float = 5, rps: float = 10, mix: str = "small",
              deadline_ms: int | None = None, count_504: bool = True) -> dict[str, Any]:
    """A short signed load window now: p95 and the 5xx rate against the SLO
    (``within_slo``; ``p95_over_slo_ms`` says by how much p95 is over)."""
    t = _tenant(root)
    secs = float(seconds)
    samples = paced_load(running_base_url(root), t.key, t.secret, rps=float(rps),
                         seconds=secs, body=_body(mix, int(deadline_ms) if deadline_ms
                                                  else None))
    return window_stats(root, samples, secs, count_504=_truthy(count_504)).to_dict()


def load_outcome(root: str, name: str, max_5xx_rate: float | None = None,
                 max_502_rate: float | None = None, min_breaker_opens: int = 0,
                 deadline_ms: int | None = None, slack_ms: float = 300,
                 require_slo: bool = False, count_504: bool = True) -> dict[str, Any]:
    """Wait for the window ``name`` (``start_load``) to end and judge it: rates of 5xx and
    502 within their bounds, at least ``min_breaker_opens`` breaker openings, every answer
    within ``deadline_ms + slack_ms``; the SLO verdict is reported (and required with
    ``require_slo``)."""
    w = _WINDOWS.pop(name, None)
    if w is None:
        raise ActivityFailed(f"no load window named {name!r} was started")
    w.thread.join(w.seconds + 60)
    signals = w.observer.stop()
    st = window_stats(root, w.samples, w.seconds, count_504=_truthy(count_504))
    samples_csv = write_samples(_reports(root) / f"{name}.samples.csv", w.samples)
    killed = _read_killed(root)
    out: dict[str, Any] = {"window": st.to_dict(), "breaker_opens": signals.breaker_opens,
                           "breaker_events": [asdict(e) for e in signals.events],
                           "provider_calls": signals.provider_calls,
                           "provider_failures": signals.provider_failures,
                           "killed_provider": killed, "samples": len(w.samples),
                           "samples_csv": str(samples_csv),
                           "timeline": [[s.t_s, s.status, s.ms] for s in w.samples]}
    out["answered_200"] = sum(1 for s in w.samples if s.status == 200)
    problems = []
    if max_5xx_rate is not None and st.rate_5xx > float(max_5xx_rate):
        problems.append(f"5xx rate {st.rate_5xx:.2%} > {float(max_5xx_rate):.2%}")
    if max_502_rate is not None and st.rate_502 > float(max_502_rate):
        problems.append(f"502 rate {st.rate_502:.2%} > {float(max_502_rate):.2%}")
    if signals.breaker_opens < int(min_breaker_opens):
        problems.append(f"{signals.breaker_opens} breaker openings < {min_breaker_opens}")
    if deadline_ms:
        limit = float(deadline_ms) + float(slack_ms)
        late = [s.ms for s in w.samples if s.status != 0 and s.ms > limit]
        out["deadline_ms"], out["late_answers"] = int(deadline_ms), len(late)
        out["max_overrun_ms"] = round(max(0.0, (st.max_ms or 0) - float(deadline_ms)), 2)
        if late:
            problems.append(f"{len(late)} answers later than {limit:g} ms")
    if _truthy(require_slo) and not st.within_slo:
        problems.append(f"SLO missed: p95 {st.p95_ms} ms (over by {st.p95_over_slo_ms} ms), "
                        f"5xx {st.rate_5xx:.2%}")
    out["problems"] = problems
    (_reports(root) / f"{name}.outcome.json").write_text(json.dumps(out, indent=1))
    if problems:
        raise ActivityFailed("; ".join(problems))
    out.pop("timeline")  # kept in the outcome file, not in the journal
    return out


def within_slo(value: dict[str, Any] | None = None) -> bool:
    """Tolerance of the steady-state probes: ``slo_holds`` found p95 within the SLO and a
    5xx count consistent with it (``consistent_with_slo``: a 5-second window of 40 requests
    cannot show a 0.5 % rate, so one 5xx alone does not say the system left its steady
    state; two do). The verdicts after a fault (``load_outcome``) stay strict."""
    return bool(isinstance(value, dict) and value.get("consistent_with_slo"))


# -- actions ----------------------------------------------------------------------------------
def start_load(root: str, name: str, seconds: float = 15, rps: float = 10,
               mix: str = "small", deadline_ms: int | None = None) -> dict[str, Any]:
    """Start a signed load window in the background (judged by ``load_outcome``)."""
    t = _tenant(root)
    base = running_base_url(root)
    secs = float(seconds)
    obs = HealthFileObserver(root)
    w = _Window(threading.Thread(target=lambda: None), obs, seconds=secs)

    def run() -> None:
        w.samples.extend(paced_load(base, t.key, t.secret, rps=float(rps), seconds=secs,
                                    body=_body(mix, int(deadline_ms) if deadline_ms
                                               else None)))
    w.thread = threading.Thread(target=run, name=f"load-{name}", daemon=True)
    _WINDOWS[name] = w
    obs.start()
    w.thread.start()
    return {"started": name, "seconds": secs, "rps": float(rps), "mix": mix}


def _providers(root: str) -> list[tuple[str, str]]:
    cfg = load_pool_config(providers_path(root))
    return [(p.id, p.base_url) for p in cfg.providers]


def _faults(url: str, **faults: Any) -> dict[str, Any]:
    r = httpx.post(f"{url.rstrip('/')}/_faults", json=faults, timeout=5)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def best_provider(root: str) -> tuple[str, str]:
    """The provider FASTEST prefers: the one it asks first (``rank`` 0 in
    ``pool/health.json``) among those enabled with a closed breaker; the first configured
    one when nothing is known yet. Not the lowest p50: a provider demoted by one slow or
    cancelled call keeps a low median while FASTEST sends it nothing, and killing it would
    test no failover at all."""
    provs = _providers(root)
    try:
        health = json.loads((pool_dir(root) / "health.json").read_text())["providers"]
        known = [(int(h["rank"]), h["id"]) for h in health
                 if h.get("rank") is not None and h.get("enabled")
                 and h.get("breaker") == "closed"]
    except (OSError, ValueError, KeyError, TypeError):
        known = []
    if known:
        pid = min(known)[1]
        return next((p for p in provs if p[0] == pid), provs[0])
    return provs[0]


def _read_killed(root: str) -> str | None:
    p = _reports(root) / "killed.json"
    return str(json.loads(p.read_text())["provider"]) if p.exists() else None


def kill_best_provider(root: str) -> dict[str, Any]:
    """Take the best provider down (its emulator answers 503 from now on)."""
    pid, url = best_provider(root)
    _faults(url, down=True)
    (_reports(root) / "killed.json").write_text(json.dumps({"provider": pid, "url": url}))
    return {"provider": pid, "url": url}


def add_latency(root: str, latency_ms: float = 1500) -> dict[str, Any]:
    """Add ``latency_ms`` to every answer of every provider."""
    return {pid: _faults(url, latency_ms=float(latency_ms)) for pid, url in _providers(root)}


def heal_all(root: str) -> dict[str, Any]:
    """Rollback: clear every fault on every provider (tolerates one that does not answer)."""
    out: dict[str, Any] = {}
    for pid, url in _providers(root):
        try:
            httpx.delete(f"{url.rstrip('/')}/_faults", timeout=5).raise_for_status()
            out[pid] = "healed"
        except httpx.HTTPError as exc:
            out[pid] = f"not healed: {type(exc).__name__}"
    (_reports(root) / "killed.json").unlink(missing_ok=True)
    return out


def _api_cpu_s(root: str) -> float:
    """CPU seconds (user + system) of pool-api and its worker processes so far."""
    st = json.loads(ApiLayout(root).state_json.read_text())
    pid = next(c["pid"] for c in st["children"] if c["name"] == "pool-api")
    return tree_cpu_s([pid])


def flood_bad_signatures(root: str, seconds: float = 5, concurrency: int = 16,
                         max_cpu_ms: float = 5.0) -> dict[str, Any]:
    """Requests with a real key and a wrong signature, as fast as ``concurrency`` keep-alive
    connections go: every one must be 401, and pool-api's CPU per rejection (its process's
    CPU over the flood / rejections) at most ``max_cpu_ms``."""
    import asyncio
    import base64
    import uuid

    t = _tenant(root)
    base = running_base_url(root)
    secs = float(seconds)
    body = b'{"task":"expand_queries","strategy":"FASTEST","payload":{"seed":"flood"}}'
    counts: dict[str, int] = {}
    ms: list[float] = []

    async def worker(client: httpx.AsyncClient, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            h = {"Content-Type": "application/json", "X-Api-Key": t.key,
                 "X-Timestamp": str(int(time.time() * 1000)), "X-Nonce": str(uuid.uuid4()),
                 "X-Signature": base64.b64encode(os.urandom(32)).decode()}
            t0 = time.monotonic()
            try:
                r = await client.post(base + "/v1/infer", content=body, headers=h)
                key = str(r.status_code)
            except httpx.HTTPError:
                key = "0"
            ms.append((time.monotonic() - t0) * 1000)
            counts[key] = counts.get(key, 0) + 1

    async def go() -> None:
        limits = httpx.Limits(max_connections=int(concurrency))
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            stop_at = time.monotonic() + secs
            await asyncio.gather(*(worker(client, stop_at) for _ in range(int(concurrency))))

    cpu0 = _api_cpu_s(root)
    t0 = time.monotonic()
    asyncio.run(go())
    elapsed = time.monotonic() - t0
    cpu = _api_cpu_s(root) - cpu0
    rejected = counts.get("401", 0)
    per = round(cpu * 1000 / rejected, 4) if rejected else None
    out: dict[str, Any] = {
           "requests": sum(counts.values()), "status_counts": counts, "rejected_401": rejected,
           "rps": round(sum(counts.values()) / elapsed, 1),
           "api_cpu_s": round(cpu, 3),
           "cpu_ms_per_rejection": per,
           "p50_ms": percentile(ms, 50, 2), "p99_ms": percentile(ms, 99, 2),
           "max_cpu_ms": float(max_cpu_ms)}
    (_reports(root) / "flood.json").write_text(json.dumps(out, indent=1))
    others = {k: v for k, v in counts.items() if k != "401"}
    if others:
        raise ActivityFailed(f"not every bad signature was a 401: {others}")
    if per is None or per > float(max_cpu_ms):
        raise ActivityFailed(f"{per} ms of CPU per rejection > "
                             f"{max_cpu_ms} ms")
    return out


def _truthy(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")


# -- journals (the drill and the tests) ------------------------------------------------------
EXPERIMENTS = ("provider-down", "provider-latency", "bad-signature-flood")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class ActivityRecord:
    name: str
    kind: str  # action | probe
    phase: str  # before | method | after | rollback
    status: str
    output: Any
    error: str | None
    start: str
    end: str


@dataclass
class ChaosVerdict:
    experiment: str
    status: str  # completed | failed | aborted | interrupted
    deviated: bool
    passed: bool
    activities: list[ActivityRecord]
    journal: str

    @property
    def aborted_before_method(self) -> bool:
        """The steady state did not hold before the fault, so Chaos Toolkit injected nothing
        (its journal still says ``completed``): the experiment says nothing about the fault."""
        return not any(a.phase == "method" for a in self.activities)

    @property
    def ran_clean(self) -> bool:
        """Completed, the method ran, and every method activity and rollback succeeded (the
        steady state may still have failed: that is the SLO's verdict, not the run's)."""
        return self.status == "completed" and not self.aborted_before_method and all(
            a.status == "succeeded" for a in self.activities if a.phase in ("method",
                                                                             "rollback"))

    @property
    def steady_state_held(self) -> bool:
        return not self.deviated and all(
            isinstance(a.output, dict) and a.output.get("consistent_with_slo") is True
            for a in self.activities if a.phase in ("before", "after"))


def read_journal(path: str | Path) -> ChaosVerdict:
    """A Chaos Toolkit journal as a typed record. ``passed``: the experiment completed, the
    steady state held before and after, and every method activity and rollback succeeded."""
    j = json.loads(Path(path).read_text())
    acts: list[ActivityRecord] = []

    def add(run: dict[str, Any], phase: str) -> None:
        a = run.get("activity", {})
        acts.append(ActivityRecord(a.get("name", "?"), a.get("type", "?"), phase,
                                   run.get("status", "?"), run.get("output"),
                                   (run.get("exception") or [None])[-1]
                                   if run.get("exception") else None,
                                   run.get("start", ""), run.get("end", "")))
    for phase, key in (("before", "steady_states"), ("after", "steady_states")):
        ss = (j.get(key) or {}).get(phase) or {}
        for run in ss.get("probes", []):
            add(run, phase)
    for run in j.get("run", []):
        add(run, "method")
    for run in j.get("rollbacks", []):
        add(run, "rollback")
    ss = j.get("steady_states") or {}
    held = all((ss.get(p) or {}).get("steady_state_met", False) for p in ("before", "after"))
    ok = (j.get("status") == "completed" and not j.get("deviated")
          and held and all(a.status == "succeeded" for a in acts))
    return ChaosVerdict(j.get("experiment", {}).get("title", str(path)), j.get("status", "?"),
                        bool(j.get("deviated")), ok, acts, str(path))


def run_experiment(root: str | Path, name: str, journal_dir: str | Path, *,
                   settings: dict[str, str] | None = None, timeout_s: float = 600
                   ) -> ChaosVerdict:
    """``chaos run --journal-path <journal_dir>/<name>.journal.json chaos/<name>.json`` with
    ``VVTV_CHAOS_API_ROOT`` and ``settings`` (``VVTV_CHAOS_*`` durations) in the environment."""
    import shutil
    import subprocess
    import sys

    from vvtvlib.core.errors import DependencyMissing

    exe = shutil.which("chaos") or str(Path(sys.executable).parent / "chaos")
    if not Path(exe).exists():
        raise DependencyMissing("chaostoolkit is not installed (pip install chaostoolkit)")
    jdir = Path(journal_dir)
    jdir.mkdir(parents=True, exist_ok=True)
    journal = jdir / f"{name}.journal.json"
    env = {**os.environ, "VVTV_CHAOS_API_ROOT": str(Path(root).resolve()), **(settings or {}),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")]))}
    subprocess.run([exe, "--log-file", str(jdir / f"{name}.log"), "run", "--journal-path",
                    str(journal), str(REPO / "chaos" / f"{name}.json")], env=env,
                   capture_output=True, text=True, timeout=timeout_s, check=False)
    if not journal.exists():
        raise DependencyMissing(f"chaos run {name}.json wrote no journal (see "
                                f"{jdir / f'{name}.log'})")
    return read_journal(journal)


def failure_signal(verdict: ChaosVerdict) -> Signal:
    """The go/no-go's 'breaker and hedge under provider failure' from provider-down."""
    outcome = next((a.output for a in verdict.activities
                    if a.name == "the-load-window-under-failure" and isinstance(a.output,
                                                                               dict)), None)
    opens = outcome.get("breaker_opens") if outcome else None
    rate_502 = outcome["window"]["rate_502"] if outcome else None
    return Signal("breaker and hedge under provider failure", opens,
                  "breaker opens, 502s bounded, others answer, SLO holds", verdict.passed,
                  f"experiment {verdict.status}, deviated={verdict.deviated}, "
                  f"502 rate {rate_502}")
