"""API benchmark: the same load against (a) the emulator directly, (b) the full pool-api path
and (c) a bare uvicorn hello-world, one uvicorn worker each, in one run.

    python benchmarks/bench_api.py [--quick] [--seconds S] [--out reports/bench/api.json]

(b) is HMAC, nonce, token bucket, quota reservation, usage events, the audit, metrics
(prometheus-client in multiprocess mode, as `vvtvctl api up` runs it), the access log,
FASTEST, a cache miss (every payload distinct) and the emulator at 0 ms. (d) Starlette's
hello-world shows what the framework itself costs. (e) a bare forward (uvicorn + the pool's
aiohttp client, no check at all) to the same emulator is the ceiling of any gateway of (b)'s
shape on this machine: (b)/(e) is what the checks cost, (e)/(c) what the shape allows.
Every server is uvicorn with uvloop and httptools (pool-api with
``vvtvlib.api.protocols.HTTP_PROTOCOL``, as `vvtvctl api up` runs it: httptools' protocol but
for its answer to a malformed request). The load generator is an asyncio HTTP/1.1 client
sending pre-built requests (each with its own nonce and signature) over keep-alive
connections:
* throughput: closed loop, 16 connections, for S seconds -> rps and latency percentiles
* latency at 100 rps: open loop, one request every 10 ms, for S seconds, (a) and (b) at the
  same time (then (c) and (d)), so that both sides of "added p95" see the same machine
* the full path again with 4 connections (less contention in the pool's HTTP client)
* a bad signature: rejections only, server CPU per rejection
CPU per request = the server process's user+system CPU over the series / requests.

Targets: (b) rps >= 20 % of (c)'s; (b) p95 - (a) p95 <= 5 ms at 100 rps; CPU per accepted
request <= 1.5 ms; CPU per bad-signature rejection <= 0.2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import psutil  # noqa: E402

from vvtvlib.api.canonical import headers as signed  # noqa: E402
from vvtvlib.api.config import ApiConfig, Plan  # noqa: E402
from vvtvlib.api.init import api_init  # noqa: E402
from vvtvlib.api.protocols import HTTP_PROTOCOL  # noqa: E402
from vvtvlib.api.tenants import open_tenants  # noqa: E402
from vvtvlib.core.stats import percentile  # noqa: E402
from vvtvlib.pool.config import providers_path, write_pool_config  # noqa: E402
from vvtvlib.pool.emulator import start_emulators, stop_all  # noqa: E402
from vvtvlib.pool.emulator.process import config_for, free_port  # noqa: E402
from vvtvlib.pool.tasks import build_messages  # noqa: E402

TARGETS = {"rps_share_of_hello": 0.20, "added_p95_ms": 5.0, "cpu_ms_per_request": 1.5,
           "cpu_ms_per_bad_signature": 0.2, "audit_share_of_full_path": 0.10}
CONNECTIONS = 16


def request_bytes(method: str, target: str, body: bytes, headers: dict[str, str]) -> bytes:
    h = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n{h}\r\n").encode() + body


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     req: bytes) -> int:
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


class Load:
    def __init__(self, port: int, make: Any) -> None:
        self.port, self.make, self.i = port, make, 0

    def next(self) -> bytes:
        self.i += 1
        req: bytes = self.make(self.i)
        return req

    async def closed(self, seconds: float) -> tuple[list[float], list[int]]:
        lat: list[float] = []
        codes: list[int] = []
        end = time.perf_counter() + seconds

        async def worker() -> None:
            r, w = await asyncio.open_connection("127.0.0.1", self.port)
            while time.perf_counter() < end:
                req = self.next()
                t = time.perf_counter()
                codes.append(await _roundtrip(r, w, req))
                lat.append((time.perf_counter() - t) * 1000)
            w.close()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return lat, codes

    async def open(self, rps: float, seconds: float) -> tuple[list[float], list[int]]:
        lat: list[float] = []
        codes: list[int] = []
        idle: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()
        for _ in range(8):
            idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))

        async def one(req: bytes, due: float) -> None:
            r, w = await idle.get()
            codes.append(await _roundtrip(r, w, req))
            lat.append((time.perf_counter() - due) * 1000)  # from when it was due
            idle.put_nowait((r, w))
        t0, tasks = time.perf_counter(), []
        for k in range(int(rps * seconds)):
            due = t0 + k / rps
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(self.next(), due)))
        await asyncio.gather(*tasks)
        while not idle.empty():
            idle.get_nowait()[1].close()
        return lat, codes


def cpu_s(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def series(name: str, pid: int, load: Load, mode: str, seconds: float,
           ok: int = 200) -> dict[str, Any]:
    c0, t0 = cpu_s(pid), time.perf_counter()
    if mode == "closed":
        lat, codes = asyncio.run(load.closed(seconds))
    else:
        lat, codes = asyncio.run(load.open(100, seconds))
    wall, cpu = time.perf_counter() - t0, cpu_s(pid) - c0
    accepted = codes.count(ok)
    return {"series": name, "mode": mode, "requests": len(codes), "accepted": accepted,
            "rps": round(len(codes) / wall, 1),
            "p50_ms": round(percentile(lat, 50) or 0, 3),
            "p95_ms": round(percentile(lat, 95) or 0, 3),
            "p99_ms": round(percentile(lat, 99) or 0, 3),
            "cpu_ms_per_request": round(cpu * 1000 / max(1, accepted), 3)}


def paired_open(runs: dict[str, tuple[int, Load]], seconds: float, rps: float = 100
                ) -> list[dict[str, Any]]:
    """The open loop at ``rps`` against every target at once, so that each sees the same
    moments of a shared machine (run one after another, the 100-rps p95s measured whatever
    else ran in each window more than the code). CPU is not reported here: the emulator also
    serves the full path's calls during the window."""
    async def both() -> list[tuple[list[float], list[int]]]:
        return list(await asyncio.gather(*(load.open(rps, seconds)
                                           for _, load in runs.values())))
    t0 = time.perf_counter()
    out = []
    for name, (lat, codes) in zip(runs, asyncio.run(both()), strict=True):
        out.append({"series": name, "mode": "open", "requests": len(codes),
                    "accepted": codes.count(200),
                    "rps": round(len(codes) / (time.perf_counter() - t0), 1),
                    "p50_ms": round(percentile(lat, 50) or 0, 3),
                    "p95_ms": round(percentile(lat, 95) or 0, 3),
                    "p99_ms": round(percentile(lat, 99) or 0, 3),
                    "cpu_ms_per_request": None})
    return out


def uvicorn(app: str, port: int, env: dict[str, str] | None = None,
            factory: bool = False, http: str = "httptools") -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--loop", "uvloop", "--http", http, "--no-access-log",
           "--log-level", "warning"]
    if factory:
        cmd.append("--factory")
    proc = subprocess.Popen(cmd, cwd=str(HERE), env={**os.environ, **(env or {})})
    import httpx
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/health/ready", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{app} did not start")


def audit_cost(root: Path, n: int = 20_000, batch: int = 100) -> dict[str, Any]:
    """The audit's CPU per request, measured in this process: the observer (build the record,
    buffer it) plus its share of a batched evidence append (one lock, fsync and anchor per
    ``batch`` lines, about what a busy worker writes every 0.2 s), plus the access log line."""
    import os as _os

    from vvtvlib.api.audit import AuditWriter
    from vvtvlib.api.pipeline import Call

    path = root / "bench_audit" / "api_requests.jsonl"
    w = AuditWriter(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    access = _os.open(root / "bench_audit" / "access.log",
                      _os.O_WRONLY | _os.O_CREAT | _os.O_APPEND, 0o600)
    import orjson
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(n):
        call = Call(str(uuid.uuid4()), "POST", b"/v1/infer", "/v1/infer", "", {}, b"{}",
                    "127.0.0.1", int(time.time() * 1000), route="infer", status=200,
                    task="expand_queries", strategy="FASTEST", tokens_in=30, tokens_out=60,
                    provider="bench")
        w.observe(call)
        _os.write(access, orjson.dumps({"request_id": call.request_id, "status": 200,
                                        "route": call.path, "ip": "127.0.0.0/24"}) + b"\n")
        if (i + 1) % batch == 0:
            w.flush()
    w.flush()
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    _os.close(access)
    return {"requests": n, "batch": batch, "cpu_ms_per_request": round(cpu * 1000 / n, 4),
            "wall_ms_per_request": round(wall * 1000 / n, 4)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 s per series (a smoke run)")
    p.add_argument("--seconds", type=float, default=15.0, help="seconds per series")
    p.add_argument("--size-mb", type=int, default=0, help="ignored (run_all passes it)")
    p.add_argument("--out", type=Path, default=Path("reports/bench/api.json"))
    p.add_argument("--root", type=Path, default=Path("lab/bench_api"))
    args = p.parse_args()
    seconds = 2.0 if args.quick else args.seconds
    import shutil
    shutil.rmtree(args.root, ignore_errors=True)
    api_init(args.root, port=free_port())
    em = start_emulators([("bench", "0")])[0]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        write_pool_config(providers_path(args.root),
                          config_for([em], pool={"hedge_after_ms": 10_000}))
        plans = {n: Plan(rpm=10**7, burst=10**7, requests_month=10**9, tokens_month=10**12)
                 for n in ("free", "pro", "enterprise")}
        import tomli_w
        (args.root / "api/configs/api.toml").write_text(
            tomli_w.dumps(ApiConfig(plans=plans).model_dump()))
        store = open_tenants(args.root)
        t = store.create("Bench", "pro", 10**7, 10**7, ["infer", "usage"])
        store.close()
        api_port, hello_port, star_port = free_port(), free_port(), free_port()
        prom = args.root.resolve() / "api/run/prometheus"  # as `vvtvctl api up` runs it
        prom.mkdir(parents=True, exist_ok=True)
        api = uvicorn("vvtvlib.api.app:app_from_env", api_port,
                      {"VVTV_ROOT": str(args.root.resolve()), "PYTHONPATH": str(HERE.parent),
                       "PROMETHEUS_MULTIPROC_DIR": str(prom)}, factory=True,
                      http=HTTP_PROTOCOL)  # as `vvtvctl api up` runs it
        hello = uvicorn("_hello_asgi:app", hello_port)
        star = uvicorn("_hello_asgi:starlette_app", star_port)
        fwd_port = free_port()
        fwd = uvicorn("_hello_asgi:forward_app", fwd_port,
                      {"VVTV_FORWARD_TO": f"http://127.0.0.1:{em.port}"})
        procs += [api, hello, star, fwd]

        def api_req(i: int, bad: bool = False) -> bytes:
            body = json.dumps({"task": "expand_queries", "strategy": "FASTEST",
                               "payload": {"seed": f"bench {i} {uuid.uuid4().hex[:8]}"}}
                              ).encode()
            h = signed(t.api_public_key, t.api_secret, "POST", "/v1/infer", body,
                       ts_ms=int(time.time() * 1000), nonce=str(uuid.uuid4()))
            if bad:
                h["X-Signature"] = "A" * 43 + "="
            return request_bytes("POST", "/v1/infer", body, h)

        def emu_req(i: int) -> bytes:
            payload = {"seed": f"bench {i} {uuid.uuid4().hex[:8]}"}
            body = json.dumps({"model": "bench", "messages": build_messages("expand_queries",
                                                                            payload),
                               "format": "json", "stream": False,
                               "options": {"temperature": 0}}).encode()
            return request_bytes("POST", "/api/chat", body, {})

        def hello_req(i: int) -> bytes:
            return request_bytes("POST", "/hello", b'{"x":1}', {})

        assert em.proc is not None
        runs = {"a_emulator": (em.proc.pid, Load(em.port, emu_req)),
                "b_full_path": (api.pid, Load(api_port, api_req)),
                "c_hello_uvicorn": (hello.pid, Load(hello_port, hello_req)),
                "d_hello_starlette": (star.pid, Load(star_port, hello_req)),
                "e_bare_forward": (fwd.pid, Load(fwd_port, emu_req))}
        results: list[dict[str, Any]] = []
        for name, (pid, load) in runs.items():
            results.append(series(name, pid, load, "closed", seconds))
            print(json.dumps(results[-1]), flush=True)
        access = args.root / "logs" / "api_access.log"
        mark = access.stat().st_size
        ab = paired_open({k: runs[k] for k in ("a_emulator", "b_full_path")}, seconds)
        with access.open("rb") as fh:  # pool-api's own time for each of those requests
            fh.seek(mark)
            inside = [float(r["duration_ms"]) for r in map(json.loads, fh.read().splitlines())
                      if r["route"] == "/v1/infer" and r["status"] == 200]
        ab[1]["server_p50_ms"] = round(percentile(inside, 50) or 0, 3)
        ab[1]["server_p95_ms"] = round(percentile(inside, 95) or 0, 3)
        for row in ab + paired_open({k: runs[k] for k in ("c_hello_uvicorn",
                                                          "d_hello_starlette")}, seconds):
            results.append(row)
            print(json.dumps(row), flush=True)
        B_CONN = 4  # CPU per request without 16-way contention in the pool's HTTP client
        global CONNECTIONS
        CONNECTIONS, keep = B_CONN, CONNECTIONS
        few = series("b_full_path_4_connections", api.pid, Load(api_port, api_req), "closed",
                     seconds)
        CONNECTIONS = keep
        print(json.dumps(few), flush=True)
        bad = series("b_bad_signature", api.pid, Load(api_port, lambda i: api_req(i, True)),
                     "closed", seconds, ok=401)
        print(json.dumps(bad), flush=True)
        by = {(r["series"], r["mode"]): r for r in results}
        b_closed, c_closed = by[("b_full_path", "closed")], by[("c_hello_uvicorn", "closed")]
        b_open, a_open = by[("b_full_path", "open")], by[("a_emulator", "open")]
        audit = audit_cost(args.root)
        print(json.dumps({"audit": audit}), flush=True)
        ratios = {
            "audit_share_of_full_path": round(audit["cpu_ms_per_request"]
                                              / max(1e-9, b_closed["cpu_ms_per_request"]), 3),
            "rps_share_of_hello": round(b_closed["rps"] / c_closed["rps"], 3),
            "rps_share_of_emulator": round(b_closed["rps"] / by[("a_emulator", "closed")]["rps"],
                                           3),
            "bare_forward_share_of_hello": round(by[("e_bare_forward", "closed")]["rps"]
                                                 / c_closed["rps"], 3),
            "rps_share_of_bare_forward": round(b_closed["rps"]
                                               / by[("e_bare_forward", "closed")]["rps"], 3),
            "starlette_share_of_bare_asgi": round(by[("d_hello_starlette", "closed")]["rps"] /
                                                  c_closed["rps"], 3),
            "added_p95_ms": round(b_open["p95_ms"] - a_open["p95_ms"], 3),
            "cpu_ms_per_request": b_closed["cpu_ms_per_request"],
            "cpu_ms_per_request_4_connections": few["cpu_ms_per_request"],
            "cpu_ms_per_bad_signature": bad["cpu_ms_per_request"],
        }
        verdict = {
            "audit_share_of_full_path":
                ratios["audit_share_of_full_path"] < TARGETS["audit_share_of_full_path"],
            "rps_share_of_hello": ratios["rps_share_of_hello"] >= TARGETS["rps_share_of_hello"],
            "added_p95_ms": ratios["added_p95_ms"] <= TARGETS["added_p95_ms"],
            "cpu_ms_per_request": ratios["cpu_ms_per_request"] <= TARGETS["cpu_ms_per_request"],
            "cpu_ms_per_bad_signature":
                ratios["cpu_ms_per_bad_signature"] <= TARGETS["cpu_ms_per_bad_signature"]}
        from importlib.metadata import version
        stack = {k: version(k) for k in ("uvicorn", "uvloop", "httptools", "starlette", "orjson",
                                         "aiohttp", "prometheus-client")}
        out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "stack": stack,
               "seconds_per_series": seconds, "connections": CONNECTIONS, "workers": 1,
               "series": results + [few, bad], "ratios": ratios, "targets": TARGETS,
               "met": verdict}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2))
        print(json.dumps({"ratios": ratios, "met": verdict}, indent=2))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        stop_all([em])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
