"""Pool benchmark: the pool's own overhead per call and the cache-hit latency.

    python benchmarks/bench_pool.py --calls 2000 --out reports/bench/pool.json

One emulator at 0 ms latency. *Direct*: aiohttp (the pool's own HTTP client) posts the same
``/api/chat`` bodies the pool would send (prompts built beforehand). *Pool*: ``Pool.infer``
with FASTEST and the cache off (prompt building, the HTTP call, sanitizing and schema
validation, breaker, counters, metrics). Rounds alternate direct and pool so both see the
same machine load. Overhead = pool percentile - direct percentile. *Cache hit*:
``Pool.infer`` on a repeated payload. Calls per second per core = calls / CPU seconds of
this process (the emulator excluded).

Targets (SPEC): added p95 <= 2 ms per call; cache hit p95 <= 0.3 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import aiohttp  # noqa: E402
import orjson  # noqa: E402

from vvtvlib.core.stats import percentile  # noqa: E402
from vvtvlib.pool import InferRequest, Pool  # noqa: E402
from vvtvlib.pool.emulator import start_emulators, stop_all  # noqa: E402
from vvtvlib.pool.emulator.process import config_for  # noqa: E402
from vvtvlib.pool.tasks import build_messages  # noqa: E402

ADDED_P95_TARGET_MS = 2.0
CACHE_P95_TARGET_MS = 0.3
TASK = "expand_queries"


def _payload(i: int) -> dict[str, Any]:
    return {"seed": f"benchmark topic {i}", "max_queries": 4}


def _stats(samples: list[float], cpu_s: float) -> dict[str, float]:
    return {"calls": len(samples), "p50_ms": round(percentile(samples, 50) or 0, 3),
            "p95_ms": round(percentile(samples, 95) or 0, 3),
            "calls_per_cpu_s": round(len(samples) / cpu_s, 1) if cpu_s else 0.0}


async def _bench(base_url: str, calls: int, rounds: int) -> dict[str, Any]:
    cfg = config_for([_Em(base_url)], pool={"cache_ttl_s": 0, "hedge_after_ms": 10_000})
    cached_cfg = config_for([_Em(base_url)], pool={"cache_ttl_s": 3600})
    direct_s: list[float] = []
    pool_s: list[float] = []
    direct_cpu = pool_cpu = 0.0
    per_round = max(1, calls // rounds)
    async with aiohttp.ClientSession(trust_env=False) as client, \
            Pool(cfg) as pool, Pool(cached_cfg) as cached:
        async def direct(i: int, body: dict[str, Any]) -> None:
            t = time.perf_counter()
            async with client.post(base_url + "/api/chat", data=orjson.dumps(body),
                                   headers={"Content-Type": "application/json"}) as r:
                r.raise_for_status()
                data = orjson.loads(await r.read())
            json.loads(data["message"]["content"])
            direct_s.append((time.perf_counter() - t) * 1000)

        async def pooled(i: int) -> None:
            t = time.perf_counter()
            await pool.infer(InferRequest(TASK, _payload(i)))
            pool_s.append((time.perf_counter() - t) * 1000)

        for i in range(50):  # warm-up: connections, caches, code paths
            await pooled(10**6 + i)
        pool_s.clear()
        n = 0
        for _ in range(rounds):
            bodies = [{"model": "bench", "messages": build_messages(TASK, _payload(n + j)),
                       "format": "json", "stream": False, "options": {"temperature": 0}}
                      for j in range(per_round)]
            c0 = time.process_time()
            for j, body in enumerate(bodies):
                await direct(n + j, body)
            c1 = time.process_time()
            for j in range(per_round):
                await pooled(n + j)
            c2 = time.process_time()
            direct_cpu += c1 - c0
            pool_cpu += c2 - c1
            n += per_round
        await cached.infer(InferRequest(TASK, _payload(0), tenant_id="bench"))
        hits: list[float] = []
        c0 = time.process_time()
        for _ in range(calls):
            t = time.perf_counter()
            res = await cached.infer(InferRequest(TASK, _payload(0), tenant_id="bench"))
            hits.append((time.perf_counter() - t) * 1000)
            assert res.from_cache
        hit_cpu = time.process_time() - c0
    d, p = _stats(direct_s, direct_cpu), _stats(pool_s, pool_cpu)
    added = {"p50_ms": round(p["p50_ms"] - d["p50_ms"], 3),
             "p95_ms": round(p["p95_ms"] - d["p95_ms"], 3)}
    h = _stats(hits, hit_cpu)
    return {"direct": d, "pool_fastest_miss": p, "added": added, "cache_hit": h,
            "targets": {"added_p95_ms": ADDED_P95_TARGET_MS,
                        "cache_hit_p95_ms": CACHE_P95_TARGET_MS},
            "met": {"added_p95": added["p95_ms"] <= ADDED_P95_TARGET_MS,
                    "cache_hit_p95": h["p95_ms"] <= CACHE_P95_TARGET_MS}}


class _Em:
    """Enough of an EmulatorProcess for ``config_for``."""

    def __init__(self, base_url: str) -> None:
        self.model, self.base_url = "bench", base_url


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=2000, help="calls per measured series")
    p.add_argument("--rounds", type=int, default=10, help="alternating direct/pool rounds")
    p.add_argument("--size-mb", type=int, default=0, help="ignored (run_all passes it)")
    p.add_argument("--out", type=Path, default=Path("reports/bench/pool.json"))
    args = p.parse_args()
    ems = start_emulators([("bench", "0")])
    try:
        result = asyncio.run(_bench(ems[0].base_url, args.calls, args.rounds))
    finally:
        stop_all(ems)
    result["machine"] = {"python": platform.python_version(), "cpus": _cpus()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    rows = [("direct aiohttp -> emulator", result["direct"]),
            ("pool FASTEST, cache miss", result["pool_fastest_miss"]),
            ("pool cache hit", result["cache_hit"])]
    lines = ["| series | p50 ms | p95 ms | calls per CPU-second |", "|---|---|---|---|"]
    lines += [f"| {name} | {s['p50_ms']} | {s['p95_ms']} | {s['calls_per_cpu_s']} |"
              for name, s in rows]
    lines.append(f"| added by the pool | {result['added']['p50_ms']} | "
                 f"{result['added']['p95_ms']} | — |")
    table = "\n".join(lines)
    args.out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"targets: added p95 <= {ADDED_P95_TARGET_MS} ms: {result['met']['added_p95']}; "
          f"cache hit p95 <= {CACHE_P95_TARGET_MS} ms: {result['met']['cache_hit_p95']}")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())
