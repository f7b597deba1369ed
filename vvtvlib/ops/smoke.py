"""Smokes for change management: a short Locust run against the lab API, and the
post-change checks (station on air and applying the flags, the pool answering)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import CheckFailed, DependencyMissing, TimedOut, VVTVError
from vvtvlib.core.layout import StationLayout

LOCUSTFILE = Path(__file__).with_name("locust_smoke.py")


@dataclass
class SmokeResult:
    requests: int
    failures: int
    p95_ms: float | None
    base_url: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def api_base_url(root: str | Path | None) -> str:
    """The running lab API's URL, or DependencyMissing saying why there is none."""
    try:
        from vvtvlib.api.supervisor import api_status
    except ImportError:
        raise DependencyMissing("the public API is not installed") from None
    st = api_status(root)
    if not st.get("up"):
        raise DependencyMissing(f"the API is not up on {StationLayout.at(root).root} "
                                "(`vvtvctl api up`)")
    if not st.get("ready"):
        raise DependencyMissing(f"the API at {st.get('base_url')} is up but not ready")
    return str(st["base_url"])


def locust_smoke(base_url: str, *, users: int = 4, seconds: int = 4,
                 max_failure_ratio: float = 0.0, max_p95_ms: float = 1500.0) -> SmokeResult:
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u",
           str(users), "-r", str(users), "-t", f"{seconds}s", "--host", base_url, "--json",
           "--only-summary", "--loglevel", "ERROR", "--exit-code-on-error", "0"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise TimedOut(f"the Locust smoke did not finish in {seconds + 60} s") from None
    try:
        stats = json.loads(proc.stdout)
    except ValueError:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DependencyMissing(f"Locust did not report: {tail[-200:]}") from None
    requests = sum(int(s.get("num_requests", 0)) for s in stats)
    failures = sum(int(s.get("num_failures", 0)) for s in stats)
    p95 = _p95(stats)
    res = SmokeResult(requests, failures, p95, base_url)
    if requests == 0:
        raise CheckFailed(f"the Locust smoke made no request to {base_url}")
    if failures / requests > max_failure_ratio:
        raise CheckFailed(f"Locust smoke: {failures}/{requests} requests failed at {base_url}")
    if p95 is not None and p95 > max_p95_ms:
        raise CheckFailed(f"Locust smoke: p95 {p95:.0f} ms > {max_p95_ms:.0f} ms")
    return res


def _p95(stats: list[dict[str, Any]]) -> float | None:
    """p95 from Locust's response-time histogram (rounded buckets, ms -> count)."""
    hist: dict[float, int] = {}
    for s in stats:
        for k, n in (s.get("response_times") or {}).items():
            hist[float(k)] = hist.get(float(k), 0) + int(n)
    total = sum(hist.values())
    if not total:
        return None
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= 0.95 * total:
            return ms
    return max(hist)


@dataclass
class PostCheck:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def post_change_checks(root: str | Path | None, *, pool_requests: int = 3) -> list[PostCheck]:
    """After a change: the station on air and applying the flags without error; the pool
    answering real requests; the API ready (when each is set up on this root)."""
    from vvtvlib.station import api as station

    out: list[PostCheck] = []
    layout = StationLayout.at(root)
    try:
        st = station.status(layout)
        feats = st.features or {}
        ok = st.up and st.encoder_running and not feats.get("error")
        out.append(PostCheck("station", ok, "on air, flags applied" if ok else
                             f"up={st.up} encoder={st.encoder_running} "
                             f"flags error={feats.get('error')}"))
    except VVTVError:
        pass
    from vvtvlib.pool import providers_path
    if providers_path(layout.root).exists():
        out.append(_pool_check(layout.root, pool_requests))
    try:
        from vvtvlib.api.supervisor import api_status
        st_api = api_status(layout.root)
        if st_api.get("up"):
            out.append(PostCheck("api", bool(st_api.get("ready")),
                                 "ready" if st_api.get("ready") else "not ready"))
    except ImportError:
        pass
    return out


def _pool_check(root: Path, n: int) -> PostCheck:
    from vvtvlib.pool import InferRequest, Pool
    from vvtvlib.pool.lab import sample_payload

    async def go() -> list[str]:
        pool = Pool.from_root(root)
        errors = []
        try:
            for i in range(n):
                try:
                    await pool.infer(InferRequest("expand_queries",
                                                  sample_payload("expand_queries", 9000 + i),
                                                  tenant_id="preflight-smoke"))
                except VVTVError as exc:
                    errors.append(exc.message)
        finally:
            await pool.aclose()
        return errors
    # its own thread and loop: the caller may already run one (a notebook, the API)
    with ThreadPoolExecutor(1) as ex:
        errors = ex.submit(asyncio.run, go()).result()
    if errors:
        return PostCheck("pool", False, f"{len(errors)}/{n} smoke requests failed: {errors[0]}")
    return PostCheck("pool", True, f"{n}/{n} smoke requests answered")
