"""Load tests against a running API (``vvtvctl api up``): Locust headless, its CSV, a summary
and the seed's go/no-go as typed records.

    report = run_loadtest(root, "sustained-ci", out_dir)   # -> LoadReport
    report.summary.p95_ms, report.go_no_go.passed

Locust (``loadtests/locustfile.py``, ``FastHttpUser``) runs in its own process with
``--headless --csv``; its ``quitting`` listener also writes every answer as a sample
(time, user class, task, status, ms, from_cache), from which the summary computes exact
percentiles, the 5xx and timeout rates, the 429 rate of well-behaved users and the cache hit
rate. Locust's own percentiles (kept as ``locust_p50_ms``...) are bucketed (147 -> 150 ms).

What the pool did (breaker opens, hedges) is read by a ``PoolObserver``. Today that is
``HealthFileObserver``: it polls ``pool/health.json`` (written by pool-api's pool at most
once a second) for breaker states and per-provider call counts; a hedge or a fail-over is a
provider call beyond one per request that reached the pool, so ``hedge_rate`` counts both.
A ``/metrics`` scrape (``llmpool_hedges_total``, ``llmpool_breaker_open_total``) can replace
it behind the same two methods.

``paced_load`` is a small open-loop signed client for the chaos experiments (no Locust
process: an experiment measures short windows in its own process).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from vvtvlib.core.config import read_toml
from vvtvlib.core.errors import ConfigError, DependencyMissing, StationNotRunning, UsageError
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.stats import percentile
from vvtvlib.pool.config import pool_dir

from .canonical import headers as signed_headers
from .config import ApiLayout, load_api_config

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "loadtests" / "locustfile.py"
PROFILES = REPO / "loadtests" / "profiles.toml"
MIXES = ("small", "large", "mixed")


# -- profiles ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    name: str
    rps: float
    duration_s: int
    mix: str = "small"
    hmac_users: int = 4
    jwt_users: int = 0
    abusive_users: int = 0
    abusive_rps: float = 5.0
    ci: bool = False
    distinct_payloads: int = 200
    timeout_s: float = 10.0

    @property
    def users(self) -> int:
        return self.hmac_users + self.jwt_users + self.abusive_users


def load_profiles(path: str | Path = PROFILES) -> dict[str, Profile]:
    data = read_toml(Path(path)).get("profiles", {})
    out: dict[str, Profile] = {}
    for name, raw in data.items():
        try:
            p = Profile(name=name, **raw)
        except TypeError as exc:
            raise ConfigError(f"{path}: profile {name!r}: {exc}", path=path) from None
        if p.mix not in MIXES or p.rps <= 0 or p.duration_s <= 0 or p.hmac_users + \
                p.jwt_users < 1:
            raise ConfigError(f"{path}: profile {name!r} needs rps > 0, duration_s > 0, at "
                              f"least one well-behaved user and a mix in {MIXES}", path=path)
        out[name] = p
    return out


def get_profile(name: str, path: str | Path = PROFILES) -> Profile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise UsageError(f"unknown load profile {name!r}; expected one of "
                         f"{', '.join(sorted(profiles))}")
    return profiles[name]


# -- samples and the pool's signals -----------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    t_s: float
    user: str  # hmac | jwt | abusive | chaos | flood
    task: str
    status: int  # 0: timeout or connection error
    ms: float
    from_cache: bool = False


def read_samples(path: str | Path) -> list[Sample]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [Sample(float(r["t_s"]), r["user"], r["task"], int(r["status"]), float(r["ms"]),
                       r["from_cache"] in ("1", "True", "true")) for r in csv.DictReader(fh)]


@dataclass
class BreakerEvent:
    t_s: float
    provider: str
    state: str


@dataclass
class PoolSignals:
    breaker_opens: int = 0
    provider_calls: int = 0
    provider_failures: int = 0
    events: list[BreakerEvent] = field(default_factory=list)
    source: str = "pool/health.json"


class PoolObserver(Protocol):
    def start(self) -> None: ...
    def stop(self) -> PoolSignals: ...


class HealthFileObserver:
    """Polls ``<root>/pool/health.json``: breaker transitions and provider call counts."""

    def __init__(self, root: str | Path, interval_s: float = 0.25) -> None:
        self.path = pool_dir(root) / "health.json"
        self.interval_s = interval_s
        self.signals = PoolSignals()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-observer", daemon=True)
        self._first: dict[str, tuple[int, int]] | None = None
        self._last: dict[str, tuple[int, int]] = {}
        self._states: dict[str, str] = {}
        self._opens: dict[str, int] = {}
        self.t0 = time.monotonic()

    def _read(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
            return data
        except (OSError, ValueError):
            return None

    def _poll(self) -> None:
        data = self._read()
        if data is None:
            return
        counts = {}
        for p in data.get("providers", []):
            pid, state = str(p.get("id")), str(p.get("breaker"))
            counts[pid] = (int(p.get("calls") or 0), int(p.get("failures") or 0))
            t = round(time.monotonic() - self.t0, 2)
            before = self._states.get(pid)
            opens = p.get("breaker_opens")
            if isinstance(opens, int):  # the pool's own count: no opening missed between
                seen = self._opens.get(pid)  # two polls (open, then half-open already)
                if seen is not None and opens > seen:
                    self.signals.breaker_opens += opens - seen
                    self.signals.events.extend(BreakerEvent(t, pid, "open")
                                               for _ in range(opens - seen))
                self._opens[pid] = opens if seen is None else max(seen, opens)
                if before is not None and state != before and state != "open":
                    self.signals.events.append(BreakerEvent(t, pid, state))
            elif before is not None and state != before:
                self.signals.events.append(BreakerEvent(t, pid, state))
                if state == "open":
                    self.signals.breaker_opens += 1
            self._states[pid] = state
        if self._first is None:
            self._first = counts
        self._last = counts

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._poll()

    def start(self) -> None:
        self.t0 = time.monotonic()
        self._poll()
        self._thread.start()

    def stop(self) -> PoolSignals:
        self._stop.set()
        self._thread.join(5)
        self._poll()
        first = self._first or {}
        self.signals.provider_calls = sum(c - first.get(k, (0, 0))[0]
                                          for k, (c, _) in self._last.items())
        self.signals.provider_failures = sum(f - first.get(k, (0, 0))[1]
                                             for k, (_, f) in self._last.items())
        return self.signals


# -- the summary and the go/no-go --------------------------------------------------------------
@dataclass
class LoadSummary:
    profile: str
    duration_s: float
    requests: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rate_5xx: float
    timeouts: int
    rate_429_well_behaved: float
    rate_429_abusive: float | None
    cache_hit_rate: float
    hedge_rate: float | None
    breaker_opens: int
    status_counts: dict[str, int]
    locust_p50_ms: float | None = None
    locust_p95_ms: float | None = None
    locust_p99_ms: float | None = None
    locust_rps: float | None = None
    signals_source: str = "pool/health.json"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Signal:
    name: str
    value: float | int | str | None
    threshold: str
    passed: bool | None  # None: not measured in this run
    note: str = ""

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "FAIL")


@dataclass
class GoNoGo:
    signals: list[Signal]

    @property
    def passed(self) -> bool:
        return all(s.passed is not False for s in self.signals)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": "GO" if self.passed else "NO-GO", "passed": self.passed,
                "signals": [{**asdict(s), "verdict": s.verdict} for s in self.signals]}


def summarize(samples: list[Sample], *, profile: str, duration_s: float,
              signals: PoolSignals | None = None,
              locust: dict[str, float | None] | None = None) -> LoadSummary:
    good = [s for s in samples if s.user != "abusive"]
    abusive = [s for s in samples if s.user == "abusive"]
    answered = [s.ms for s in good if s.status != 0]
    ok = [s for s in good if s.status == 200]
    n = len(good)
    reached_pool = sum(1 for s in good if (s.status == 200 and not s.from_cache)
                       or s.status in (502, 504))
    hedge_rate = None
    if signals is not None and reached_pool:
        hedge_rate = round(max(0, signals.provider_calls - reached_pool) / reached_pool, 4)
    counts: dict[str, int] = {}
    for s in samples:
        key = f"{s.user}:{s.status}"
        counts[key] = counts.get(key, 0) + 1
    loc = locust or {}
    return LoadSummary(
        profile=profile, duration_s=round(duration_s, 2), requests=n,
        rps=round(n / duration_s, 2) if duration_s else 0.0,
        p50_ms=percentile(answered, 50, 2), p95_ms=percentile(answered, 95, 2),
        p99_ms=percentile(answered, 99, 2),
        rate_5xx=round(sum(1 for s in good if s.status >= 500) / n, 5) if n else 0.0,
        timeouts=sum(1 for s in good if s.status == 0),
        rate_429_well_behaved=round(sum(1 for s in good if s.status == 429) / n, 5) if n
        else 0.0,
        rate_429_abusive=round(sum(1 for s in abusive if s.status == 429) / len(abusive), 4)
        if abusive else None,
        cache_hit_rate=round(sum(1 for s in ok if s.from_cache) / len(ok), 4) if ok else 0.0,
        hedge_rate=hedge_rate, breaker_opens=signals.breaker_opens if signals else 0,
        status_counts=dict(sorted(counts.items())),
        locust_p50_ms=loc.get("p50"), locust_p95_ms=loc.get("p95"),
        locust_p99_ms=loc.get("p99"), locust_rps=loc.get("rps"),
        signals_source=signals.source if signals else "none")


def go_no_go(summary: LoadSummary, *, p95_ms: float = 1200, rate_5xx: float = 0.005,
             rate_429: float = 0.02, failure: Signal | None = None) -> GoNoGo:
    """The seed's go/no-go. ``failure``: the breaker/hedge signal from the provider-down
    experiment (``vvtvlib.api.chaos.failure_signal``); not measured by a load run alone."""
    p95 = summary.p95_ms
    return GoNoGo([
        Signal("p95 on /v1/infer", p95, f"<= {p95_ms:g} ms",
               None if p95 is None else p95 <= p95_ms,
               f"profile {summary.profile}, {summary.rps} rps"),
        Signal("5xx rate", summary.rate_5xx, f"< {rate_5xx:.1%}",
               summary.requests > 0 and summary.rate_5xx < rate_5xx,
               f"{summary.timeouts} timeouts"),
        Signal("429 for well-behaved clients", summary.rate_429_well_behaved,
               f"< {rate_429:.0%}", summary.rate_429_well_behaved < rate_429,
               "abusive client 429 rate: " + (f"{summary.rate_429_abusive:.0%}"
                                              if summary.rate_429_abusive is not None
                                              else "no abusive client")),
        failure or Signal("breaker and hedge under provider failure", None,
                          "breaker opens, others answer", None,
                          "run chaos/provider-down.json"),
    ])


# -- running Locust ----------------------------------------------------------------------------
@dataclass
class LoadReport:
    profile: Profile
    base_url: str
    summary: LoadSummary
    go_no_go: GoNoGo
    csv_prefix: str
    samples_csv: str
    summary_json: str
    locust_exit_code: int

    def to_dict(self) -> dict[str, Any]:
        return {"profile": asdict(self.profile), "base_url": self.base_url,
                "summary": self.summary.to_dict(), "go_no_go": self.go_no_go.to_dict(),
                "csv_prefix": self.csv_prefix, "samples_csv": self.samples_csv,
                "summary_json": self.summary_json,
                "locust_exit_code": self.locust_exit_code}


def running_base_url(root: str | Path) -> str:
    lay = ApiLayout(root)
    try:
        state = json.loads(lay.state_json.read_text())
    except (OSError, ValueError):
        raise StationNotRunning(f"the API under {lay.root} is not running (vvtvctl api up)"
                                ) from None
    return str(state["base_url"])


@dataclass
class LoadTenants:
    tenant_id: str
    key: str
    secret: str = field(repr=False)
    abusive_key: str = ""
    abusive_secret: str = field(default="", repr=False)


def make_tenants(root: str | Path, label: str, rps: float) -> LoadTenants:
    """A well-behaved tenant sized for ``rps`` (2x headroom) and an abusive one (burst 5,
    60 rpm); the running API sees them within a second."""
    from .tenants import open_tenants

    store = open_tenants(root)
    try:
        stamp = time.strftime("%H%M%S")
        rpm = max(60, int(rps * 60 * 2))
        good = store.create(f"load {label} {stamp}", "enterprise", rpm, max(20, int(rps * 2)),
                            ["infer", "usage"])
        bad = store.create(f"abusive {label} {stamp}", "pro", 60, 5, ["infer"])
    finally:
        store.close()
    return LoadTenants(good.tenant_id, good.api_public_key, good.api_secret,
                       bad.api_public_key, bad.api_secret)


def parse_locust_stats(path: str | Path) -> dict[str, float | None]:
    def num(v: str) -> float | None:
        try:
            return float(v)
        except ValueError:
            return None
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") == "Aggregated":
                return {"p50": num(row["50%"]), "p95": num(row["95%"]), "p99": num(row["99%"]),
                        "rps": num(row["Requests/s"]),
                        "requests": num(row["Request Count"])}
    return {}


def run_loadtest(root: str | Path, profile: str | Profile, out_dir: str | Path, *,
                 profiles_path: str | Path = PROFILES, base_url: str | None = None,
                 observer: PoolObserver | None = None,
                 duration_s: int | None = None) -> LoadReport:
    """Run Locust headless against the API under ``root``; write
    ``<out>/<profile>_stats.csv`` (and Locust's other CSVs), ``<out>/<profile>_samples.csv``
    and ``<out>/<profile>_summary.json``."""
    p = profile if isinstance(profile, Profile) else get_profile(profile, profiles_path)
    if duration_s is not None:
        p = Profile(**{**asdict(p), "duration_s": duration_s})
    base = base_url or running_base_url(root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    slo = load_api_config(root).slo
    tenants = make_tenants(root, p.name, p.rps)
    time.sleep(1.1)  # workers re-read tenants within a second
    prefix = out / p.name
    samples = out / f"{p.name}_samples.csv"
    cfg = {"hmac_users": p.hmac_users, "jwt_users": p.jwt_users,
           "abusive_users": p.abusive_users, "abusive_rps": p.abusive_rps, "rps": p.rps,
           "mix": p.mix, "distinct_payloads": p.distinct_payloads, "timeout_s": p.timeout_s,
           "key": tenants.key, "secret": tenants.secret, "abusive_key": tenants.abusive_key,
           "abusive_secret": tenants.abusive_secret, "tenant_id": tenants.tenant_id,
           "root": str(Path(root).resolve()), "samples": str(samples),
           "slo_p95_ms": slo.infer_p95_ms, "slo_5xx": slo.error_rate_5xx}
    cfg_path = out / f".{p.name}_config.json"
    atomic_write(cfg_path, json.dumps(cfg), mode=0o600, durable=False)
    classes = [c for c, n in (("HmacUser", p.hmac_users), ("JwtUser", p.jwt_users),
                              ("AbusiveUser", p.abusive_users)) if n > 0]
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
           "--csv", str(prefix), "--csv-full-history", "-u", str(p.users),
           "-r", str(p.users), "-t", f"{p.duration_s}s", "--host", base, "--only-summary",
           "--stop-timeout", "5", "--loglevel", "WARNING", *classes]
    env = {**os.environ, "VVTV_LOAD_CONFIG": str(cfg_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")]))}
    obs = observer or HealthFileObserver(root)
    obs.start()
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=p.duration_s + 120, check=False)
    except FileNotFoundError:
        raise DependencyMissing("locust is not installed (pip install locust)") from None
    finally:
        signals = obs.stop()
        cfg_path.unlink(missing_ok=True)
    elapsed = min(time.monotonic() - t0, float(p.duration_s))
    if proc.returncode not in (0, 1) or not samples.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DependencyMissing(f"locust did not run ({tail[0][:200]})")
    stats = parse_locust_stats(f"{prefix}_stats.csv")
    summary = summarize(read_samples(samples), profile=p.name, duration_s=elapsed,
                        signals=signals, locust=stats)
    gate = go_no_go(summary, p95_ms=slo.infer_p95_ms, rate_5xx=slo.error_rate_5xx)
    summary_json = out / f"{p.name}_summary.json"
    report = LoadReport(p, base, summary, gate, str(prefix), str(samples), str(summary_json),
                        proc.returncode)
    atomic_write(summary_json, json.dumps(report.to_dict(), indent=2) + "\n", durable=False)
    return report


# -- a small signed open-loop client (chaos windows) -----------------------------------------
def paced_load(base_url: str, key: str, secret: str, *, rps: float, seconds: float,
               body: Callable[[int], bytes], user: str = "chaos", task: str = "infer",
               timeout_s: float = 10.0, t0: float | None = None) -> list[Sample]:
    """``rps`` signed ``POST /v1/infer`` per second for ``seconds`` (open loop: a slow answer
    does not delay the next request); one sample per request."""
    start = time.monotonic() if t0 is None else t0

    async def one(client: httpx.AsyncClient, i: int) -> Sample:
        raw = body(i)
        h = {"Content-Type": "application/json",
             **signed_headers(key, secret, "POST", "/v1/infer", raw,
                              ts_ms=int(time.time() * 1000), nonce=str(uuid.uuid4()))}
        t = time.monotonic()
        status, cached = 0, False
        try:
            r = await client.post(base_url + "/v1/infer", content=raw, headers=h)
            status = r.status_code
            if status == 200:
                cached = bool(r.json().get("from_cache"))
        except httpx.HTTPError:
            status = 0
        return Sample(round(t - start, 3), user, task, status,
                      round((time.monotonic() - t) * 1000, 2), cached)

    async def go() -> list[Sample]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
            tasks = []
            begin = time.monotonic()
            for i in range(int(rps * seconds)):
                await asyncio.sleep(max(0.0, begin + i / rps - time.monotonic()))
                tasks.append(asyncio.create_task(one(client, i)))
            return list(await asyncio.gather(*tasks))
    return asyncio.run(go())


def write_samples(path: str | Path, samples: list[Sample]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "user", "task", "status", "ms", "from_cache"])
        w.writerows((s.t_s, s.user, s.task, s.status, s.ms, int(s.from_cache))
                    for s in samples)
    return path


def init_lab_api(root: str | Path) -> Path:
    """``api init`` on free ports (pool-api, gateway, the three emulators), so a test, the
    drill or the benchmark never collides with another API on the machine."""
    from vvtvlib.pool.emulator.process import free_port

    from .init import api_init

    root = Path(root)
    if not ApiLayout(root).api_toml.exists():
        api_init(root, port=free_port(), gateway_port=free_port(), tls_port=free_port(),
                 provider_ports=[free_port() for _ in range(3)])
    return root
