"""The on-call tools against one live lab station (FFmpeg, SQLite, HTTP on 127.0.0.1) and a
pool of emulated providers on the same root: flags without restart, ops status, drains
(a pool drained under load loses no request), streaming actions, bundle redaction,
snapshot quick, validate all."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner

from tests.plugins.station import TINY
from tests.station.helpers import eventually
from vvtvlib.cli.vvtvctl import app
from vvtvlib.core.config import read_toml
from vvtvlib.core.features import flags_path
from vvtvlib.core.layout import StationLayout
from vvtvlib.ops.bundle import read_bundle
from vvtvlib.ops.generate import REPO
from vvtvlib.pool.errors import Drained
from vvtvlib.pool.lab import PoolLab, sample_payload
from vvtvlib.pool.records import InferRequest
from vvtvlib.station.control import status
from vvtvlib.station.provision import init_station
from vvtvlib.station.supervisor import station_down, station_up
from vvtvlib.vault.minisign import load_public_key, verify_file

pytestmark = [pytest.mark.station, pytest.mark.system, pytest.mark.timeout(300)]
runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, clip_cache: Path) -> Iterator[StationLayout]:
    root = tmp_path_factory.mktemp("oncall") / "station"
    init_station(root, profile="embedded", size_mb=0, clip_cache=clip_cache, **TINY)
    layout = StationLayout.at(root)
    cfg = layout.configs / "station.toml"
    data = read_toml(cfg)
    data["workers"]["planner_interval_s"] = 0.4  # curator decisions every 0.4 s
    cfg.write_text(tomli_w.dumps(data))
    station_up(layout, timeout_s=60)
    try:
        eventually(lambda: status(layout).segment_age_s is not None, timeout_s=60, every=0.5)
        yield layout
    finally:
        station_down(layout, timeout_s=20)


@pytest.fixture(scope="module")
def pool(live: StationLayout) -> Iterator[PoolLab]:
    with PoolLab(root=live.root) as lab:
        yield lab


@pytest.fixture(scope="module")
def api(live: StationLayout, pool: PoolLab) -> Iterator[dict[str, Any]]:
    """The real API (``vvtvctl api up``: a supervisor, its emulated providers on free ports
    and uvicorn) on the station's root."""
    from vvtvlib.api.init import api_init
    from vvtvlib.api.supervisor import api_down, api_up
    from vvtvlib.pool.emulator.process import free_port

    api_init(live.root, port=free_port(), provider_ports=[free_port() for _ in range(3)])
    st = api_up(live.root, profile="embedded", workers=1, timeout_s=60)
    try:
        yield st
    finally:
        api_down(live.root)


def signed_infer(api: dict[str, Any], creds: Any, i: int) -> int:
    import uuid

    import httpx

    from vvtvlib.api.canonical import headers

    body = json.dumps({"task": "expand_queries", "strategy": "FASTEST",
                       "payload": {"seed": f"drain {i}"}}).encode()
    h = headers(creds.api_public_key, creds.api_secret, "POST", "/v1/infer", body,
                ts_ms=int(time.time() * 1000), nonce=str(uuid.uuid4()))
    try:
        r = httpx.post(api["base_url"] + "/v1/infer", content=body, timeout=30,
                       headers={**h, "Content-Type": "application/json"})
    except httpx.HTTPError:
        return -1
    if r.status_code == 503:
        assert r.json()["error"] == "DRAINED", r.text
    return r.status_code


def _curator(layout: StationLayout, after: int) -> list[dict[str, Any]]:
    path = layout.logs / "curator_vigilante.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(x) for x in lines[after:]]


def _count(layout: StationLayout) -> int:
    path = layout.logs / "curator_vigilante.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _applied(layout: StationLayout, flag: str, value: Any) -> bool:
    feats = status(layout).features or {}
    return feats.get("flags", {}).get(flag) == value


def test_flags_apply_without_restart(live: StationLayout) -> None:
    root = str(live.root)
    pid = status(live).pid
    r = cli("flags", "set", "curator.min_confidence_apply=0", "--root", root)
    assert r.exit_code == 0, r.output
    r = cli("flags", "set", "curator.apply_enabled=on", "--root", root, "--reason", "drill")
    assert r.exit_code == 0, r.output
    eventually(lambda: _applied(live, "curator.min_confidence_apply", 0.0), timeout_s=3)
    mark = _count(live)
    eventually(lambda: len(_curator(live, mark)) >= 2, timeout_s=15)
    assert {d["decision"] for d in _curator(live, mark)} == {"apply"}

    t0 = time.monotonic()
    r = cli("flags", "set", "curator.apply_enabled=false", "--root", root,
            "--reason", "freeze curator")
    assert r.exit_code == 0, r.output
    eventually(lambda: _applied(live, "curator.apply_enabled", False), timeout_s=3, every=0.05)
    applied_in = time.monotonic() - t0
    assert applied_in < 1.5  # the supervisor re-reads the file every 0.3 s
    mark = _count(live)
    eventually(lambda: len(_curator(live, mark)) >= 2, timeout_s=15)
    assert {d["decision"] for d in _curator(live, mark)} == {"advise"}
    assert status(live).pid == pid  # no restart
    audit = [json.loads(x) for x in (flags_path(root).with_name("features.audit.jsonl")
                                     .read_text().splitlines())]
    assert audit[-1]["flag"] == "curator.apply_enabled" and audit[-1]["reason"] == \
        "freeze curator" and audit[-1]["old"] is True and audit[-1]["new"] is False


def test_autopilot_canary_and_rollbacks_are_logged_and_counted(live: StationLayout) -> None:
    root = str(live.root)
    assert cli("flags", "set", "autopilot.canary_pct=1", "--root", root).exit_code == 0
    assert cli("flags", "set", "autopilot.enabled=on", "--root", root).exit_code == 0
    path = live.logs / "autopilot.jsonl"
    eventually(lambda: path.exists() and len(path.read_text().splitlines()) >= 6, timeout_s=20)
    outcomes = {json.loads(x)["outcome"] for x in path.read_text().splitlines()}
    assert outcomes <= {"applied", "rolled_back", "held"} and "applied" in outcomes | set()
    assert cli("flags", "set", "autopilot.enabled=off", "--root", root).exit_code == 0
    import httpx

    from vvtvlib.station.metrics import metrics_url
    text = httpx.get(metrics_url(live)).text
    assert 'curator_decisions_total{decision="advise"}' in text
    assert "autopilot_rollbacks_total" in text


def test_an_invalid_flags_file_keeps_the_last_good_and_turns_status_red(
        live: StationLayout) -> None:
    root = str(live.root)
    # a known good state of its own, whatever ran before on this worker
    assert cli("flags", "set", "curator.apply_enabled=false", "--root", root).exit_code == 0
    eventually(lambda: _applied(live, "curator.apply_enabled", False), timeout_s=3)
    path = flags_path(live.root)
    good = path.read_bytes()
    path.write_text("[curator]\nmin_confidence_apply = 7\n")
    try:
        eventually(lambda: (status(live).features or {}).get("error"), timeout_s=3)
        assert _applied(live, "curator.apply_enabled", False)  # the last good flags
        r = cli("ops", "status", "--root", str(live.root), "--json")
        assert r.exit_code == 1
        st = json.loads(r.stdout)
        assert st["verdict"] == "red"
        problems = [p for c in st["components"] for p in c["problems"]]
        assert any("min_confidence_apply" in p for p in problems)
    finally:
        path.write_bytes(good)
    eventually(lambda: not (status(live).features or {}).get("error"), timeout_s=3)


def test_ops_status_consolidates_station_pool_and_slo(live: StationLayout, pool: PoolLab,
                                                      tmp_path: Path) -> None:
    pool.infer("expand_queries", sample_payload("expand_queries", 1))
    r = cli("ops", "status", "--root", str(live.root), "--json")
    st = json.loads(r.stdout)
    comps = {c["name"]: c for c in st["components"]}
    assert comps["station"]["detail"]["up"] and comps["station"]["verdict"] != "red"
    assert comps["pool"]["summary"] == "3/3 providers usable"
    assert r.exit_code == 0, r.stdout
    # a recording where the segments are 30 s old: the streaming budget is spent -> red
    rec = tmp_path / "rec.jsonl"
    rec.write_text("".join(json.dumps({"ts": 1000.0 + 60 * i, "samples": [
        ["stream_segment_age_seconds", {}, 30.0]]}) + "\n" for i in range(30)))
    r = cli("ops", "status", "--root", str(live.root), "--samples", str(rec), "--json")
    assert r.exit_code == 1
    slo = next(c for c in json.loads(r.stdout)["components"] if c["name"] == "slo")
    assert slo["verdict"] == "red" and any("segment-age" in p for p in slo["problems"])
    r = cli("pool", "provider", "disable", pool.specs[0][0] if False else
            next(iter(pool.pool.members)), "--root", str(live.root))  # type: ignore[union-attr]
    assert r.exit_code == 0
    comps = {c["name"]: c for c in json.loads(cli("ops", "status", "--root", str(live.root),
                                                   "--json").stdout)["components"]}
    assert comps["pool"]["verdict"] == "amber"
    cli("pool", "provider", "enable", next(iter(pool.pool.members)),  # type: ignore[union-attr]
        "--root", str(live.root))


def test_ops_status_sees_the_api_and_a_pool_drained_through_it_loses_nothing(
        live: StationLayout, api: dict[str, Any]) -> None:
    import threading

    from vvtvlib.api.tenants import open_tenants

    comps = {c["name"]: c for c in json.loads(cli("ops", "status", "--root", str(live.root),
                                                   "--json").stdout)["components"]}
    assert comps["api"]["verdict"] == "green", comps["api"]
    store = open_tenants(live.root)
    try:
        creds = store.create("Drill", "pro", 60000, 1000, ["infer", "usage"])
    finally:
        store.close()
    codes: list[int] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for i in range(25):
            code = signed_infer(api, creds, k * 100 + i)
            with lock:
                codes.append(code)
            time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    r = cli("ops", "drain", "--service", "pool", "--reason", "upgrade provider weights",
            "--root", str(live.root))
    assert r.exit_code == 0, r.output
    for t in threads:
        t.join(60)
    cli("ops", "undrain", "--service", "pool", "--root", str(live.root))
    assert len(codes) == 100
    assert set(codes) <= {200, 503}, codes  # answered, or DRAINED: none lost
    assert codes.count(200) > 0 and codes.count(503) > 0

    def api_requests() -> bool:  # the API flushes its usage events in batches
        st = json.loads(cli("ops", "status", "--root", str(live.root), "--json").stdout)
        api_c = next(c for c in st["components"] if c["name"] == "api")
        return int(api_c["detail"]["requests"]) >= 100 and api_c["detail"]["share_5xx"] > 0
    eventually(api_requests, timeout_s=15, every=0.5)


def test_api_drain_and_burst_shedding_apply_without_restart(live: StationLayout,
                                                            api: dict[str, Any]) -> None:
    import httpx

    from vvtvlib.api.tenants import open_tenants

    store = open_tenants(live.root)
    try:
        creds = store.create("Shed", "pro", 60000, 1000, ["infer", "usage"])
    finally:
        store.close()
    root = str(live.root)
    assert signed_infer(api, creds, 1) == 200
    assert cli("ops", "drain", "--service", "api", "--reason", "gateway upgrade",
               "--root", root).exit_code == 0
    assert signed_infer(api, creds, 2) == 503  # DRAINED (checked in signed_infer)
    assert httpx.get(api["base_url"] + "/v1/health/ready").status_code == 200
    assert cli("ops", "undrain", "--service", "api", "--root", root).exit_code == 0
    assert signed_infer(api, creds, 3) == 200
    assert cli("flags", "set", "api.shed_rps_per_tenant=1", "--root", root).exit_code == 0
    assert cli("flags", "set", "api.burst_shedding=on", "--root", root).exit_code == 0
    # sent together, so that the one-per-second bucket cannot refill between them however
    # slow the machine is
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(6) as ex:
        codes = list(ex.map(lambda i: signed_infer(api, creds, 10 + i), range(6)))
    assert codes.count(429) >= 3 and 200 in codes, codes
    assert cli("flags", "set", "api.burst_shedding=off", "--root", root).exit_code == 0
    assert signed_infer(api, creds, 20) == 200


def test_a_pool_drained_under_load_loses_no_request(live: StationLayout, pool: PoolLab
                                                    ) -> None:
    assert pool.pool is not None
    p = pool.pool

    async def one(i: int) -> str:
        try:
            await p.infer(InferRequest("expand_queries", sample_payload("expand_queries",
                                                                        1000 + i)))
            return "ok"
        except Drained:
            return "drained"
        except Exception as exc:  # noqa: BLE001 - any other outcome is a lost request
            return f"lost: {type(exc).__name__}"

    async def load() -> list[str]:
        tasks = []
        for i in range(120):
            tasks.append(asyncio.create_task(one(i)))
            await asyncio.sleep(0.01)
        return await asyncio.gather(*tasks)

    fut = asyncio.run_coroutine_threadsafe(load(), pool.loop)
    time.sleep(0.4)
    r = cli("ops", "drain", "--service", "pool", "--reason", "upgrade provider weights",
            "--root", str(live.root))
    assert r.exit_code == 0, r.output
    results = fut.result(timeout=60)
    assert not [x for x in results if x.startswith("lost")], results
    assert results.count("ok") > 0 and results.count("drained") > 0
    first_drained = results.index("drained")
    assert "drained" not in results[:first_drained]  # before the flag: every one answered
    # a configured fallback answers instead of the error
    cli("ops", "drain", "--service", "pool", "--reason", "maintenance", "--fallback",
        "try again in 10 minutes", "--root", str(live.root))
    res = pool.infer("expand_queries", sample_payload("expand_queries", 5000))
    assert res.content == {"fallback": "try again in 10 minutes", "drained": True}
    assert cli("ops", "undrain", "--service", "pool", "--root", str(live.root)).exit_code == 0
    assert not pool.infer("expand_queries", sample_payload("expand_queries", 5001)) \
        .content.get("drained")


def test_planner_drain_waits_for_the_cycle_in_flight(live: StationLayout) -> None:
    r = cli("ops", "drain", "--service", "planner", "--reason", "schema change",
            "--root", str(live.root), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["idle"] is True
    mark = _count(live)
    time.sleep(1.5)  # three planner intervals: no cycle may run while drained
    assert _count(live) == mark
    assert cli("ops", "undrain", "--service", "planner", "--root", str(live.root)).exit_code == 0
    eventually(lambda: _count(live) > mark, timeout_s=10)


def test_streaming_status_restart_and_emergency(live: StationLayout) -> None:
    root = str(live.root)
    r = cli("streaming", "status", "--root", root, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["on_air"]
    before = status(live)
    r = cli("streaming", "restart-encoder", "--root", root, "--json")
    assert r.exit_code == 0, r.output
    after = status(live)
    assert after.pid == before.pid and after.up  # the supervisor (and its HTTP) stayed
    assert after.encoder_restarts == before.encoder_restarts + 1
    assert after.encoder_run_id != before.encoder_run_id
    eventually(lambda: (status(live).segment_age_s or 99) < 10, timeout_s=30)
    buf = status(live).queue_buffer_s
    r = cli("streaming", "emergency", "--inject", "5", "--reason", "buffer<30m",
            "--root", root, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["injected"] == 5
    assert status(live).queue_buffer_s > buf
    assert cli("streaming", "emergency", "--inject", "0", "--reason", "x",
               "--root", root).exit_code == 2


def test_bundle_redacts_every_planted_secret(live: StationLayout, tmp_path: Path) -> None:
    planted = {"tenant": "tnt_sec_9f8e7d6c5b4a39281706", "key": "hmac-key-ABCDEF0123456789",
               "token": "tok_live_55aa55aa55aa55aa", "sig": "sig_v1_deadbeefcafebabe0001",
               "jwt": "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0ZW5hbnQifQ.c2lnbmF0dXJlX2hlcmU"}
    with (live.logs / "supervisor.jsonl").open("a") as fh:
        fh.write(json.dumps({"msg": "tenant made", "api_secret": planted["tenant"]}) + "\n")
        fh.write(json.dumps({"msg": "call", "headers": {
            "Authorization": f"Bearer {planted['token']}",
            "X-Signature": planted["sig"]}, "jwt": planted["jwt"]}) + "\n")
    (live.configs / "extra.toml").write_text(f'hmac_key = "{planted["key"]}"\n')
    (live.root / "pool").mkdir(exist_ok=True)
    (live.root / "pool" / "api_token").write_text(planted["token"] + "\n")
    out = tmp_path / "b.tar.zst"
    r = cli("ops", "bundle", "--scope", "all", "--root", str(live.root), "--out", str(out),
            "--json")
    assert r.exit_code == 0, r.output
    raw = out.read_bytes()
    members = read_bundle(out)
    blob = b"\n".join(members.values())
    for name, value in planted.items():
        assert value.encode() not in blob, name
        assert value.encode() not in raw
    assert b"[redacted]" in members["system/logs/supervisor.jsonl"]
    assert {"status.json", "metrics.prom", "MANIFEST.sha256",
            "system/configs/station.toml"} <= set(members)
    import hashlib
    for line in members["MANIFEST.sha256"].decode().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(members[name]).hexdigest() == digest
    side = out.with_name(out.name + ".sha256").read_text().split()[0]
    assert side == hashlib.sha256(raw).hexdigest()
    (live.configs / "extra.toml").unlink()
    for scope in ("streaming", "pool", "api"):
        assert cli("ops", "bundle", "--scope", scope, "--root", str(live.root),
                   "--out", str(tmp_path / f"{scope}.tar.zst")).exit_code == 0
    assert cli("ops", "bundle", "--scope", "nope", "--root", str(live.root)).exit_code == 2


def test_snapshot_quick_is_signed_by_the_station(live: StationLayout) -> None:
    r = cli("snapshot", "quick", "--root", str(live.root), "--json")
    assert r.exit_code == 0, r.output
    snap = json.loads(r.stdout)
    verify_file(load_public_key(live.foundation_pub), snap["archive"], snap["signature"])
    Path(snap["archive"]).write_bytes(Path(snap["archive"]).read_bytes() + b"x")
    from vvtvlib.core.errors import SignatureError
    with pytest.raises(SignatureError):
        verify_file(load_public_key(live.foundation_pub), snap["archive"], snap["signature"])


def test_validate_all_names_each_problem(live: StationLayout, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for d in ("ops", "alerts", "dashboards"):
        shutil.copytree(REPO / d, repo / d)
    r = cli("validate", "all", "--repo", str(repo), "--no-promtool",
            "--root", str(live.root))
    assert r.exit_code == 0, r.output
    (repo / "ops" / "slo" / "broken.yaml").write_text("a: [1, 2\n")
    (repo / "ops" / "flags" / "features.toml").write_text("[curator]\napply_enabled = 3\n")
    rb = repo / "ops" / "runbooks" / "rb_pool.md"
    rb.write_text(rb.read_text() + "\n```bash\nvvtvctl pool provider explode x\n```\n")
    r = cli("validate", "all", "--repo", str(repo), "--no-promtool", "--json")
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    problems = "\n".join(p for c in report["checks"] for p in c["problems"])
    assert "broken.yaml" in problems
    assert "apply_enabled" in problems
    assert "rb_pool.md" in problems


def test_change_preflight_and_apply_against_the_live_lab(live: StationLayout,
                                                         api: dict[str, Any],
                                                         tmp_path: Path) -> None:
    from vvtvlib.ops.change import edit_cr

    crs = tmp_path / "crs"
    shutil.copytree(REPO / "ops" / "change_requests", crs)
    rec = tmp_path / "ok.jsonl"
    rec.write_text("".join(json.dumps({"ts": 1000.0 + 60 * i, "samples": [
        ["stream_segment_age_seconds", {}, 1.5]]}) + "\n" for i in range(30)))
    common = ["--root", str(live.root), "--dir", str(crs), "--at", "2026-12-06T02:10Z",
              "--samples", str(rec), "--no-promtool"]

    def new(slug: str, flags: dict[str, Any]) -> str:
        r = cli("change", "new", "--slug", slug, "--dir", str(crs), "--at", "2026-12-06T02:00Z",
                "--json")
        path = Path(json.loads(r.stdout)["path"])
        edit_cr(path, flags=flags, approved_by="elisa.sre")
        return path.stem

    good = new("hedge-sooner", {"pool.hedge_after_ms": 150})
    r = cli("change", "preflight", good, *common, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert set(report["checks"].values()) == {"PASS"}
    smoke = next(s for s in report["steps"] if s["name"] == "smoke")
    assert smoke["detail"]["requests"] > 0 and smoke["detail"]["failures"] == 0

    r = cli("change", "apply", good, *common, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outcome"] == "applied"
    assert _applied(live, "pool.hedge_after_ms", 150)

    bad = new("deadline-cut", {"pool.heavy_deadline_ms": 1})
    r = cli("change", "apply", bad, *common, "--json")
    assert r.exit_code == 1
    journal = json.loads(r.stdout)
    assert journal["outcome"] == "rolled back"
    assert journal["checks"]["post-smoke"] == "FAIL" and journal["checks"]["rollback"] == "PASS"
    assert cli("flags", "get", "pool.heavy_deadline_ms", "--root",
               str(live.root)).stdout.strip() == "0"

    # outside the window (Monday 10:00) the same good CR is refused, with the reason
    r = cli("change", "preflight", good, *common[:4], "--at", "2026-12-07T10:00Z",
            "--samples", str(rec), "--no-promtool")
    assert r.exit_code == 1 and "outside the window" in r.output
