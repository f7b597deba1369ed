"""Side by side with LiteLLM: the gateway many teams would pick instead of pool-api.

    python benchmarks/bench_gateway_peers.py [--quick] [--seconds S] [--work DIR]
                                             [--out reports/bench/gateway_peers.json]

LiteLLM's proxy is installed as a new user would (``pip install 'litellm[proxy]'``) into its
own virtual environment inside the work folder (never into the project's environment), and
configured with a master key and no database in front of the same emulator (an Ollama-API
model at 0 ms) that pool-api's pool calls. The same load generator (``bench_api.Load``: an
asyncio HTTP/1.1 client over keep-alive connections, each request pre-built) sends the same
payload (the ``expand_queries`` messages the pool would send, a distinct seed each time) with
the same concurrency (8 connections, and 1 for the unloaded p50) to:

* LiteLLM: ``POST /v1/chat/completions`` with ``Authorization: Bearer <master key>``;
* our full path: ``POST /v1/infer`` through ``vvtvctl api up`` (HMAC with a fresh nonce,
  timestamp window, token bucket, quota reservation and settlement, usage events, whatever
  audit and metrics observers the API has, FASTEST, a cache miss) with ``--limits memory``
  for one worker and ``--limits redis`` (its own redis-server) for two.

At 1 and 2 workers each: rps, p50/p95/p99 and CPU seconds per 1,000 answered requests (the
server's processes: uvicorn and its workers, plus redis-server for ours; the emulator's CPU
is not counted for either), and the ratios. Target: ours >= 8x LiteLLM's rps with a lower
p99 at the same worker count. When LiteLLM cannot be installed or started, the JSON says why
and still reports ours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_api  # noqa: E402
import httpx  # noqa: E402
from bench_api import Load, request_bytes  # noqa: E402

from vvtvlib.api.canonical import headers as signed  # noqa: E402
from vvtvlib.api.config import ApiConfig, Plan  # noqa: E402
from vvtvlib.api.init import api_init  # noqa: E402
from vvtvlib.api.supervisor import api_down, api_up  # noqa: E402
from vvtvlib.api.tenants import open_tenants  # noqa: E402
from vvtvlib.core.errors import VVTVError  # noqa: E402
from vvtvlib.core.procstat import tree_cpu_s  # noqa: E402
from vvtvlib.core.stats import percentile  # noqa: E402
from vvtvlib.core.wait import wait_until  # noqa: E402
from vvtvlib.pool.config import providers_path, write_pool_config  # noqa: E402
from vvtvlib.pool.emulator import start_emulators, stop_all  # noqa: E402
from vvtvlib.pool.emulator.process import config_for, free_port  # noqa: E402
from vvtvlib.pool.tasks import build_messages  # noqa: E402

TARGET_RPS_RATIO = 8.0
CONNECTIONS = 8


def measure(name: str, pids: list[int], load: Load, seconds: float, connections: int,
            workers: int) -> dict[str, Any]:
    bench_api.CONNECTIONS = connections
    c0, t0 = tree_cpu_s(pids), time.perf_counter()
    lat, codes = asyncio.run(load.closed(seconds))
    wall, cpu = time.perf_counter() - t0, tree_cpu_s(pids) - c0
    ok = codes.count(200)
    return {"gateway": name, "workers": workers, "connections": connections,
            "requests": len(codes), "answered_200": ok,
            "other_statuses": {str(c): codes.count(c) for c in set(codes) if c != 200},
            "rps": round(ok / wall, 1),
            "p50_ms": round(percentile(lat, 50) or 0, 2),
            "p95_ms": round(percentile(lat, 95) or 0, 2),
            "p99_ms": round(percentile(lat, 99) or 0, 2),
            "cpu_s_per_1000": round(cpu * 1000 / max(1, ok), 3)}


# -- LiteLLM ---------------------------------------------------------------------------------
def install_litellm(work: Path) -> tuple[Path | None, str]:
    venv = work / "litellm-venv"
    exe = venv / "bin" / "litellm"
    if exe.exists():
        return exe, "already installed"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       capture_output=True, timeout=300)
        r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"],
                           capture_output=True, text=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"LiteLLM could not be installed: {exc}"
    if r.returncode != 0 or not exe.exists():
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"LiteLLM could not be installed: {tail[0][:300]}"
    return exe, "installed"


def litellm_version(exe: Path) -> str:
    r = subprocess.run([str(exe.parent / "python"), "-c",
                        "import importlib.metadata as m; print(m.version('litellm'))"],
                       capture_output=True, text=True, check=False)
    return r.stdout.strip() or "unknown"


def start_litellm(exe: Path, work: Path, em_url: str, model: str, workers: int,
                  master_key: str) -> tuple[subprocess.Popen[bytes] | None, int, str]:
    port = free_port()
    cfg = work / "litellm.yaml"
    cfg.write_text(f"""model_list:
  - model_name: {model}
    litellm_params:
      model: ollama_chat/{model}
      api_base: {em_url}
general_settings:
  master_key: {master_key}
litellm_settings:
  telemetry: false
""")
    log = open(work / f"litellm_{workers}w.log", "wb")  # noqa: SIM115
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port",
                             str(port), "--num_workers", str(workers)], stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def answers() -> bool:
        if proc.poll() is not None:
            raise VVTVError(f"LiteLLM exited with {proc.returncode} (see {log.name})")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health/liveliness",
                             timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_until(answers, 180, 0.5, what="LiteLLM's /health/liveliness")
    except VVTVError as exc:
        stop(proc)
        return None, port, str(exc)
    return proc, port, "started"


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, 15)
        proc.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, 9)


# -- ours ------------------------------------------------------------------------------------
def prepare_ours(root: Path, em: Any) -> tuple[str, str]:
    shutil.rmtree(root, ignore_errors=True)
    api_init(root, port=free_port(), gateway_port=free_port(), tls_port=free_port(),
             provider_ports=[free_port() for _ in range(3)])
    write_pool_config(providers_path(root), config_for([em], pool={"hedge_after_ms": 10_000}))
    plans = {n: Plan(rpm=10**7, burst=10**7, requests_month=10**9, tokens_month=10**12)
             for n in ("free", "pro", "enterprise")}
    import tomli_w
    cfg = ApiConfig(plans=plans)
    text = (root / "api/configs/api.toml").read_text()
    import tomllib
    cur = tomllib.loads(text)
    cur["plans"] = cfg.model_dump()["plans"]
    (root / "api/configs/api.toml").write_text(tomli_w.dumps(cur))
    store = open_tenants(root)
    t = store.create("Bench", "pro", 10**7, 10**7, ["infer", "usage"])
    store.close()
    return t.api_public_key, t.api_secret


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 s per series (a smoke run)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per series")
    p.add_argument("--size-mb", type=int, default=0, help="ignored (run_all passes it)")
    p.add_argument("--work", type=Path, default=Path("lab/bench_gateway_peers"))
    p.add_argument("--out", type=Path, default=Path("reports/bench/gateway_peers.json"))
    p.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    args = p.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    worker_counts = [int(w) for w in args.workers.split(",")]
    exe, install_note = install_litellm(work)
    print(f"litellm: {install_note}", flush=True)
    em = start_emulators([("bench", "0")])[0]
    master_key = "sk-" + secrets.token_hex(16)
    root = work / "vvtv"
    key, secret = prepare_ours(root, em)

    def payload(i: int) -> dict[str, Any]:
        return {"seed": f"bench {i} {uuid.uuid4().hex[:8]}"}

    def ours_req(i: int) -> bytes:
        body = json.dumps({"task": "expand_queries", "strategy": "FASTEST",
                           "payload": payload(i)}).encode()
        h = signed(key, secret, "POST", "/v1/infer", body, ts_ms=int(time.time() * 1000),
                   nonce=str(uuid.uuid4()))
        return request_bytes("POST", "/v1/infer", body, h)

    def litellm_req(i: int) -> bytes:
        body = json.dumps({"model": "bench", "temperature": 0,
                           "messages": build_messages("expand_queries", payload(i))}).encode()
        return request_bytes("POST", "/v1/chat/completions", body,
                             {"Authorization": f"Bearer {master_key}"})

    results: list[dict[str, Any]] = []
    notes: list[str] = [install_note]
    try:
        for workers in worker_counts:
            limits = "memory" if workers == 1 else "redis"
            st = api_up(root, workers=workers, limits=limits, timeout_s=90)
            try:
                pids = [c["pid"] for c in st["processes"] if c["name"] in ("pool-api", "redis")]
                port = int(st["base_url"].rsplit(":", 1)[1])
                asyncio.run(Load(port, ours_req).closed(1.0))  # warm-up
                for conns in ([1, CONNECTIONS] if workers == 1 else [CONNECTIONS]):
                    r = measure("vvtv_full_path", pids, Load(port, ours_req), seconds, conns,
                                workers)
                    r["limits"] = limits
                    results.append(r)
                    print(json.dumps(r), flush=True)
            finally:
                api_down(root)
            if exe is None:
                continue
            proc, lport, note = start_litellm(exe, work, em.base_url, "bench", workers,
                                              master_key)
            if proc is None:
                notes.append(f"{workers} worker(s): {note}")
                print(note, flush=True)
                continue
            try:
                asyncio.run(Load(lport, litellm_req).closed(2.0))  # warm-up
                for conns in ([1, CONNECTIONS] if workers == 1 else [CONNECTIONS]):
                    r = measure("litellm_proxy", [proc.pid], Load(lport, litellm_req), seconds,
                                conns, workers)
                    results.append(r)
                    print(json.dumps(r), flush=True)
            finally:
                stop(proc)
    finally:
        stop_all([em])
    by = {(r["gateway"], r["workers"], r["connections"]): r for r in results}
    ratios = []
    for workers in worker_counts:
        ours = by.get(("vvtv_full_path", workers, CONNECTIONS))
        peer = by.get(("litellm_proxy", workers, CONNECTIONS))
        if ours and peer and peer["rps"]:
            rps_ratio = round(ours["rps"] / peer["rps"], 2)
            ratios.append({"workers": workers, "rps_ratio": rps_ratio,
                           "p99_ours_ms": ours["p99_ms"], "p99_litellm_ms": peer["p99_ms"],
                           "cpu_ratio_litellm_over_ours": round(
                               peer["cpu_s_per_1000"] / max(1e-9, ours["cpu_s_per_1000"]), 2),
                           "target_met": rps_ratio >= TARGET_RPS_RATIO
                           and ours["p99_ms"] < peer["p99_ms"]})
    report = {"benchmark": "gateway_peers", "seconds_per_series": seconds,
              "connections": CONNECTIONS, "machine": {"cpus": os.cpu_count(),
                                                      "python": platform.python_version()},
              "litellm": {"available": exe is not None,
                          "version": litellm_version(exe) if exe else None,
                          "setup": "litellm[proxy] in its own venv, --num_workers N, master "
                                   "key, no database, ollama_chat/ model at the emulator"},
              "notes": notes, "results": results, "ratios": ratios,
              "target": f"ours >= {TARGET_RPS_RATIO:g}x LiteLLM's rps with a lower p99 at "
                        "the same worker count"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(ratios, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
