"""`vvtvctl api up` for real, in both profiles, driven by the seed's curl client
(``hmac_client.sh``: bash printf | openssl dgst -sha256 -hmac | base64 | curl).

* embedded: pool-api with ``--workers 2 --limits redis`` (the limit holds across workers)
* embedded with ``--workers 2 --limits sqlite`` (limits and nonces in data/tenants.sqlite)
* nginx: Debian nginx in front (TLS, mTLS, ModSecurity + CRS, limit_req, body limit; only
  /v1/ routed, nginx's own refusals with the API's error body and headers)
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.plugins.rawhttp import raw_http
from tests.plugins.system import need, need_tool
from vvtvlib.api.canonical import headers as signed_headers
from vvtvlib.api.config import ApiLayout, load_api_config
from vvtvlib.api.init import api_init
from vvtvlib.api.pki import CA, write_pair
from vvtvlib.api.supervisor import api_down, api_status, api_up
from vvtvlib.pool.config import load_pool_config, providers_path, write_pool_config
from vvtvlib.pool.emulator.process import free_port

from .conftest import CURL_CLIENT

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]
BODY = '{"task":"expand_queries","strategy":"FASTEST","payload":{"seed":"abc"}}'


def vvtvctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "vvtvlib.cli.vvtvctl", *args],
                         capture_output=True, text=True, check=False, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"vvtvctl {' '.join(args)}: {out.stderr}")
    return out


@dataclass
class Tenant:
    tenant_id: str
    key: str
    secret: str


@dataclass
class Live:
    root: Path
    profile: str
    base: str
    status: dict[str, Any]

    def tenant(self, name: str, *, rpm: int = 6000, burst: int = 1000,
               scopes: str = '["infer","usage"]') -> Tenant:
        out = vvtvctl("tenants", "create", "--root", str(self.root), "--name", name,
                      "--plan", "pro", "--rpm", str(rpm), "--burst", str(burst),
                      "--scopes", scopes, "--json")
        d = json.loads(out.stdout)
        return Tenant(d["tenant_id"], d["api_public_key"], d["api_secret"])

    def curl(self, t: Tenant, method: str, target: str, body: str = "",
             base: str | None = None, **env: str) -> tuple[int, Any, str]:
        e = {"PATH": os.environ["PATH"], "BASE": base or self.base, "KEY": t.key,
             "SECRET": t.secret, **env}
        out = subprocess.run(["bash", str(CURL_CLIENT), method, target, body],
                             capture_output=True, text=True, env=e, check=True, timeout=60)
        lines = out.stdout.rstrip("\n").split("\n")
        text = "\n".join(lines[:-1]).strip()
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        return int(lines[-1]), parsed, text


def _fast_providers(root: Path) -> None:
    cfg = load_pool_config(providers_path(root))
    provs = [p.model_copy(update={
        "base_url": f"http://127.0.0.1:{free_port()}",
        "emulator": p.emulator.model_copy(update={"latency_ms": "1:3", "error_rate": 0.0,
                                                  "messy_rate": 0.0})})
        for p in cfg.providers if p.emulator is not None]
    write_pool_config(providers_path(root), cfg.model_copy(update={"providers": provs}))


def _start(profile: str, tmp_path_factory: pytest.TempPathFactory,
           limits: str = "redis") -> Live:
    need_tool("curl")
    need_tool("openssl")
    root = tmp_path_factory.mktemp(f"live-{profile}")
    api_init(root, port=free_port(), gateway_port=free_port(), tls_port=free_port())
    _fast_providers(root)
    if profile == "nginx":
        need_tool("nginx")
        need(Path("/usr/share/modsecurity-crs/rules").is_dir(), "modsecurity-crs")
        st = api_up(root, profile="nginx")
    else:
        if limits == "redis":
            need_tool("redis-server")
        st = api_up(root, profile="embedded", workers=2, limits=limits)
    return Live(root, profile, st["base_url"], st)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """pool-api alone: 2 uvicorn workers sharing Redis limits."""
    lv = _start("embedded", tmp_path_factory)
    yield lv
    assert api_down(lv.root)["graceful"]


@pytest.fixture(scope="module")
def embedded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """pool-api alone: 2 uvicorn workers sharing limits and nonces in data/tenants.sqlite."""
    lv = _start("embedded", tmp_path_factory, limits="sqlite")
    yield lv
    assert api_down(lv.root)["graceful"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """nginx in front of pool-api (1 worker, memory limits)."""
    lv = _start("nginx", tmp_path_factory)
    yield lv
    assert api_down(lv.root)["graceful"]


@pytest.fixture(params=["embedded", "gateway"])
def live(request: pytest.FixtureRequest) -> Live:
    lv: Live = request.getfixturevalue(request.param)
    return lv


def test_up_reports_every_process(live: Live) -> None:
    st = api_status(live.root)
    assert st["up"] and st["ready"]
    names = {p["name"] for p in st["processes"]}
    assert {"pool-api", "emulator:phi3-mini", "emulator:qwen-7b", "emulator:gemma-9b"} <= names
    assert all(p["alive"] for p in st["processes"])
    if live.profile == "nginx":
        assert "nginx" in names and st["urls"]["gateway_tls"].startswith("https://")
        assert (live.root / "api/gateway/nginx.conf").exists()
    else:
        assert "redis" in names and st["limits"].startswith("redis://")
        assert st["workers"] == 2
    out = vvtvctl("api", "status", "--root", str(live.root), "--json")
    assert json.loads(out.stdout)["base_url"] == live.base


def test_the_seeds_curl_client(live: Live) -> None:
    t = live.tenant("CurlCo")
    status, body, _ = live.curl(t, "POST", "/v1/infer", BODY)
    assert status == 200, body
    assert body["tenant_id"] == t.tenant_id and body["content"]["must_include"]
    r = httpx.get(live.base + "/v1/health/ready")
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-request-id"]


def test_curl_client_errors(live: Live, tmp_path: Path) -> None:
    t = live.tenant("Errors")
    now = int(time.time() * 1000)
    cases: list[tuple[dict[str, str], str, int, str]] = [
        ({"SIG": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, BODY, 401, "AUTH_FAILED"),
        ({"KEY": "vvtv-pub-ffffffffffffffff"}, BODY, 401, "AUTH_FAILED"),
        ({"TS": str(now - 6 * 60_000)}, BODY, 401, "AUTH_FAILED"),
        ({"TS": "yesterday"}, BODY, 401, "AUTH_FAILED"),
        ({"NONCE": str(uuid.uuid4())[:-1] + "|"}, BODY, 401, "AUTH_FAILED"),
        ({}, '{"task":"write_poem","payload":{}}', 422, "SCHEMA_INVALID"),
    ]
    for env, body, status, code in cases:
        got, parsed, text = live.curl(t, "POST", "/v1/infer", body, **env)
        assert (got, parsed["error"] if parsed else text) == (status, code), env
        assert "Traceback" not in text
    nonce = str(uuid.uuid4())
    assert live.curl(t, "POST", "/v1/infer", BODY, NONCE=nonce)[0] == 200
    got, parsed, _ = live.curl(t, "POST", "/v1/infer", BODY, NONCE=nonce)
    assert (got, parsed["error"]) == (409, "NONCE_REPLAY")
    big = tmp_path / "big.json"
    big.write_bytes(b"a" * (1024 * 1024 + 1))
    got, parsed, _ = live.curl(t, "POST", "/v1/infer", "", BODY_FILE=str(big))
    assert (got, parsed["error"]) == (413, "BODY_TOO_LARGE")


def test_suspension_reaches_running_workers(live: Live) -> None:
    t = live.tenant("Suspended")
    assert live.curl(t, "POST", "/v1/infer", BODY)[0] == 200
    vvtvctl("tenants", "suspend", t.tenant_id, "--root", str(live.root))
    time.sleep(1.0)  # the contract: within one second, no restart
    got, parsed, _ = live.curl(t, "POST", "/v1/infer", BODY)
    assert (got, parsed["error"]) == (403, "AUTH_FAILED")
    vvtvctl("tenants", "resume", t.tenant_id, "--root", str(live.root))
    time.sleep(1.0)
    assert live.curl(t, "POST", "/v1/infer", BODY)[0] == 200


def test_usage_is_per_tenant_and_the_query_is_signed(live: Live) -> None:
    a, b = live.tenant("UsageA"), live.tenant("UsageB")
    for _ in range(2):
        assert live.curl(b, "POST", "/v1/infer", BODY)[0] == 200
    got, body, _ = live.curl(a, "GET", "/v1/usage?from=2020-01-01")
    assert got == 200 and body["tenant_id"] == a.tenant_id and body["requests"] == 0
    deadline = time.monotonic() + 10  # other workers write their batches every 0.5 s
    while True:
        got, body, _ = live.curl(b, "GET", "/v1/usage?from=2020-01-01")
        assert got == 200
        infer = body["by_route"].get("/v1/infer", {}).get("requests", 0)
        if infer >= 2 or time.monotonic() > deadline:  # its own usage reads count too
            break
        time.sleep(0.2)
    assert body["by_route"]["/v1/infer"]["requests"] == 2
    got, body, _ = live.curl(a, "GET", f"/v1/usage?from=2020-01-01&tenant_id={b.tenant_id}")
    assert (got, body["error"]) == (403, "AUTH_FAILED")
    # sign one query, send another
    h = signed_headers(a.key, a.secret, "GET", "/v1/usage?from=2020-01-01",
                       b"", ts_ms=int(time.time() * 1000), nonce=str(uuid.uuid4()))
    r = httpx.get(live.base + "/v1/usage?from=2019-01-01", headers=h)
    assert r.status_code == 401 and r.json()["error"] == "AUTH_FAILED"


def test_forged_client_headers_straight_to_pool_api_are_ignored(live: Live) -> None:
    t = live.tenant("Forged")
    vvtvctl("tenants", "map-cert", t.tenant_id, "--cn", "forged-cn", "--root", str(live.root))
    api = live.status["urls"]["pool_api"]
    r = httpx.post(api + "/v1/infer", content=BODY, headers={
        "X-Client-Verify": "SUCCESS", "X-Client-S-DN": "CN=forged-cn,O=VVTV Lab",
        "X-Gateway-Token": "forged"})
    assert r.status_code == 401 and r.json()["error"] == "AUTH_FAILED"


@pytest.mark.parametrize("backend", ["embedded", "embedded_sqlite"])
def test_the_limit_holds_exactly_across_workers(backend: str,
                                                request: pytest.FixtureRequest) -> None:
    live: Live = request.getfixturevalue(backend)
    burst, rpm = 10, 1  # refill 1/60 per second: none within the burst's second
    t = live.tenant("Exact", rpm=rpm, burst=burst)
    bodies = [json.dumps({"task": "expand_queries", "payload": {"seed": f"x{i}"}}).encode()
              for i in range(40)]

    def one(b: bytes) -> int:
        h = {"Content-Type": "application/json",
             **signed_headers(t.key, t.secret, "POST", "/v1/infer", b,
                              ts_ms=int(time.time() * 1000), nonce=str(uuid.uuid4()))}
        with httpx.Client(timeout=30) as c:  # one connection each: both workers serve
            return c.post(live.base + "/v1/infer", content=b, headers=h).status_code
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(one, bodies))
    refill = int((time.monotonic() - t0) * rpm / 60)
    assert codes.count(200) == burst + refill and codes.count(429) == 40 - burst - refill


def test_workers_need_a_shared_backend(live: Live) -> None:
    out = vvtvctl("api", "up", "--root", str(live.root), "--workers", "2", "--limits",
                  "memory", check=False)
    assert out.returncode == 2 and "--limits redis" in out.stderr
    assert "--limits sqlite" in out.stderr and "Traceback" not in out.stderr


def test_sqlite_limits_and_nonces_are_shared_by_the_workers(embedded_sqlite: Live) -> None:
    import sqlite3

    live = embedded_sqlite
    st = api_status(live.root)
    db = ApiLayout(live.root).tenants_db
    assert st["limits"] == f"sqlite://{db}" and st["workers"] == 2
    assert "redis" not in {p["name"] for p in st["processes"]}
    t = live.tenant("OneNonce")
    nonce = str(uuid.uuid4())
    body = BODY.encode()
    h = {"Content-Type": "application/json",
         **signed_headers(t.key, t.secret, "POST", "/v1/infer", body,
                          ts_ms=int(time.time() * 1000), nonce=nonce)}

    def one(_: int) -> int:
        with httpx.Client(timeout=30) as c:  # one connection each: both workers serve
            return c.post(live.base + "/v1/infer", content=body, headers=h).status_code
    with ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(one, range(16)))
    assert sorted(codes) == [200] + [409] * 15
    con = sqlite3.connect(db)
    rows = con.execute("SELECT nonce, ts FROM nonces WHERE tenant_id = ?",
                       (t.tenant_id,)).fetchall()
    con.close()
    assert [r[0] for r in rows] == [nonce] and abs(rows[0][1] - time.time() * 1000) < 600_000


# -- the nginx gateway ----------------------------------------------------------------------
def tls_context(ca: str, pair: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(str(pair) + ".pem", str(pair) + ".key")
    return ctx


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("certs")


def test_mtls_through_the_gateway(gateway: Live, certs: Path) -> None:
    live = gateway
    t = live.tenant("Partner")
    vvtvctl("tenants", "map-cert", t.tenant_id, "--cn", "partner-co", "--root", str(live.root))
    vvtvctl("api", "cert", "issue", "--cn", "partner-co", "--out", str(certs),
            "--root", str(live.root))
    lay = ApiLayout(live.root)
    tls = live.status["urls"]["gateway_tls"]
    ca = str(lay.tls / "ca.pem")
    time.sleep(1.0)  # the mapping reaches the worker within a second
    with httpx.Client(verify=tls_context(ca, certs / "partner-co")) as c:
        r = c.post(tls + "/v1/infer", content=BODY,
                   headers={"Content-Type": "application/json",
                            "X-Client-S-DN": "CN=someone-else"})  # overwritten by nginx
    assert r.status_code == 200, r.text
    assert r.json()["tenant_id"] == t.tenant_id
    assert r.headers["x-request-id"] == r.json()["request_id"]
    # a certificate from another CA is refused by nginx
    other = CA.create("Some Other CA")
    write_pair(*other.issue("partner-co", server=False), certs / "evil.pem", certs / "evil.key")
    with httpx.Client(verify=tls_context(ca, certs / "evil")) as c:
        r = c.post(tls + "/v1/infer", content=BODY, headers={"Content-Type": "application/json"})
    assert r.status_code == 403 and r.json()["error"] == "AUTH_FAILED"
    # TLS without a client certificate: the HMAC client still works
    got, body, _ = live.curl(t, "POST", "/v1/infer", BODY, base=tls, CURL_OPTS=f"--cacert {ca}")
    assert got == 200


def test_the_waf_stands_in_front_of_infer(gateway: Live) -> None:
    live = gateway
    t = live.tenant("Attacker")
    evil = json.dumps({"task": "expand_queries", "payload": {
        "seed": "1' UNION SELECT password FROM users -- <script>alert(1)</script>"}})
    got, body, _ = live.curl(t, "POST", "/v1/infer", evil)
    assert (got, body["error"]) == (403, "AUTH_FAILED")
    conf = (live.root / "api/gateway/nginx.conf").read_text()
    assert "modsecurity on;" in conf and "client_max_body_size 1m;" in conf
    assert "limit_req zone=perip" in conf
    assert load_api_config(live.root).server.body_limit == 1024 * 1024


def test_the_gateway_routes_v1_only_and_never_metrics(gateway: Live) -> None:
    live = gateway
    api = live.status["urls"]["pool_api"]
    assert httpx.get(api + "/metrics").status_code == 200  # loopback, straight to pool-api
    token = (live.root / "api/gateway/gateway.token").read_text().strip()
    r = httpx.get(api + "/metrics", headers={"X-Gateway-Token": token})
    assert r.status_code == 404  # anything that came through a proxy is not served
    for target in ("/metrics", "/v1/../metrics", "/v1/%2e%2e/metrics", "/%6detrics",
                   "//metrics", "/v1/metrics", "/metrics?x=/v1/", "/_err/413", "/",
                   "/health/ready", "/infer"):
        r = httpx.get(live.base + target)
        assert r.status_code == 404, target
        assert r.json()["error"] == "NOT_FOUND" and "api_requests_total" not in r.text
        assert r.headers["x-request-id"] == r.json()["request_id"], target
        assert r.headers["x-content-type-options"] == "nosniff"


def test_the_gateways_own_refusals_keep_the_contract(gateway: Live, tmp_path: Path) -> None:
    live = gateway
    t = live.tenant("Headers")

    def check(r: httpx.Response, status: int, code: str) -> None:
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
        assert r.headers["x-request-id"] == r.json()["request_id"]
        assert r.headers["x-content-type-options"] == "nosniff"
    # 405: nginx's own (TRACE) and pool-api's through the gateway, with Allow
    r = httpx.request("TRACE", live.base + "/v1/usage")
    check(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "GET, HEAD"
    r = httpx.delete(live.base + "/v1/usage")
    check(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "GET, HEAD"
    # 413 before pool-api sees the body; 400 for what nginx cannot read
    check(httpx.post(live.base + "/v1/infer", content=b"a" * (1024 * 1024 + 1)), 413,
          "BODY_TOO_LARGE")
    check(httpx.get(live.base + "/v1/usage", headers={"X-Big": "a" * 20000}), 400,
          "SCHEMA_INVALID")
    # the gateway's request id reaches pool-api: the same in the header, body and audit
    got, body, _ = live.curl(t, "POST", "/v1/infer", BODY, CURL_OPTS="-H X-Request-Id:mine-123456")
    assert got == 200 and body["request_id"] != "mine-123456"
    r = httpx.post(live.base + "/v1/infer", content=BODY, headers={
        "Content-Type": "application/json", "X-Request-Id": "mine-123456"})
    check(r, 401, "AUTH_FAILED")
    assert len(r.json()["request_id"]) == 32  # nginx's $request_id, not the client's
    audit = (live.root / "logs/audit/api_requests.jsonl")
    deadline = time.monotonic() + 10  # written in batches every 0.2 s
    while r.json()["request_id"] not in audit.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert r.json()["request_id"] in audit.read_text()


def test_the_gateways_429_says_when_to_retry(gateway: Live) -> None:
    """limit_req per IP tightened to 1 r/s (burst 1) by a reload, then put back."""
    from vvtvlib.api import gateway as gw
    from vvtvlib.api.config import GatewaySettings

    live = gateway
    lay, cfg = ApiLayout(live.root), load_api_config(live.root)
    token = lay.gateway_token.read_text().strip()

    def reload(per_ip_rps: int, per_ip_burst: int) -> None:
        c = cfg.model_copy(update={"gateway": GatewaySettings(per_ip_rps=per_ip_rps,
                                                              per_ip_burst=per_ip_burst)})
        subprocess.run([*gw.command(gw.render(lay, c, token)), "-s", "reload"], check=True,
                       capture_output=True, timeout=30)
    reload(1, 1)
    try:
        deadline = time.monotonic() + 20  # until the reloaded workers answer
        while True:
            r = httpx.get(live.base + "/v1/nothing")
            if r.status_code == 429 or time.monotonic() > deadline:
                break
        assert (r.status_code, r.json()["error"]) == (429, "RATE_LIMITED")
        assert r.headers["retry-after"] == "1"
        assert r.headers["x-request-id"] == r.json()["request_id"]
        assert r.headers["x-content-type-options"] == "nosniff"
    finally:
        reload(cfg.gateway.per_ip_rps, cfg.gateway.per_ip_burst)
        deadline = time.monotonic() + 20  # the next tests need the restored workers
        while httpx.get(live.base + "/v1/nothing").status_code == 429 and \
                time.monotonic() < deadline:
            time.sleep(0.2)


def test_nginx_drops_an_idle_upstream_connection_before_pool_api_does(gateway: Live) -> None:
    """Otherwise pool-api may close a kept-alive connection just as nginx sends a request
    on it: a 502 for a request pool-api never saw."""
    import re

    import psutil

    conf = (gateway.root / "api/gateway/nginx.conf").read_text()
    upstream = re.search(r"upstream pool_api \{[^}]*keepalive_timeout (\d+)s;", conf)
    assert upstream, "the upstream block sets no keepalive_timeout"
    api = next(c for c in gateway.status["processes"] if c["name"] == "pool-api")
    cmd = psutil.Process(api["pid"]).cmdline()
    server_s = int(cmd[cmd.index("--timeout-keep-alive") + 1])
    assert int(upstream.group(1)) < server_s


def test_a_dead_provider_leaves_the_api_up_a_dead_pool_api_stops_it(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """An emulated provider stands for a remote one: when its process dies the API answers
    with the others (the supervisor logs it); when pool-api dies the supervisor stops all."""
    import signal

    from tests.station.helpers import eventually

    root = tmp_path_factory.mktemp("dead-child")
    api_init(root, port=free_port())
    _fast_providers(root)
    st = api_up(root, profile="embedded")
    lv = Live(root, "embedded", st["base_url"], st)
    try:
        pids = {p["name"]: p["pid"] for p in st["processes"]}
        os.kill(pids["emulator:phi3-mini"], signal.SIGKILL)
        eventually(lambda: not {p["name"]: p["alive"] for p in
                                api_status(root)["processes"]}["emulator:phi3-mini"],
                   timeout_s=30, every=0.2)
        time.sleep(1.0)  # the supervisor's watch loop has looked several times since
        assert "provider exited" in (root / "logs/api_supervisor.log").read_text()
        now = api_status(root)
        assert now["up"] and now["ready"]
        t = lv.tenant("Survivor")
        codes = [lv.curl(t, "POST", "/v1/infer",
                         BODY.replace("abc", f"after the kill {i}"))[0] for i in range(5)]
        assert codes == [200] * 5, codes
        os.kill(pids["pool-api"], signal.SIGKILL)
        eventually(lambda: not api_status(root)["up"], timeout_s=30, every=0.2)
        eventually(lambda: not any(psutil_alive(pid) for pid in pids.values()),
                   timeout_s=30, every=0.2)
    finally:
        api_down(root)


def psutil_alive(pid: int) -> bool:
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_up_refuses_a_provider_port_another_process_serves(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two labs on one machine with the same provider ports: the second `up` says so, rather
    than calling the first lab's emulators (with their faults) behind the operator's back."""
    import socket

    from vvtvlib.core.errors import DependencyMissing

    root = tmp_path_factory.mktemp("taken-port")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        api_init(root, port=free_port(), provider_ports=[free_port(), taken, free_port()])
        with pytest.raises(DependencyMissing, match=f"port {taken} of the emulated provider "
                                                    "qwen-7b is already in use"):
            api_up(root, profile="embedded")
        assert not api_status(root)["up"]
        out = vvtvctl("api", "up", "--root", str(root), check=False)
        assert out.returncode == 3, out.stderr
        assert f"port {taken}" in out.stderr and "Traceback" not in out.stderr
    assert not api_status(root)["up"]


# -- what either profile answers before any route runs -----------------------------------------
MALFORMED = {
    "request line": b"GARBAGE\r\n\r\n",
    "header without a colon": b"GET /v1/usage HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "control byte in a header": b"GET /v1/usage HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    "two Content-Lengths": b"POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                           b"Content-Length: 3\r\n\r\n{}",
    "unknown Transfer-Encoding": b"POST /v1/infer HTTP/1.1\r\nHost: x\r\n"
                                 b"Transfer-Encoding: gzip\r\n\r\n",
}


@pytest.mark.parametrize("data", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_request_no_parser_can_read_gets_the_error_body(live: Live, data: bytes) -> None:
    """embedded: uvicorn's parser refuses it, pool-api's HTTP protocol answers and closes the
    connection; nginx: its own 400 (or 501) as the same 400, or (a control byte, which nginx
    passes on) pool-api's 400 with the gateway's request id."""
    r = raw_http(live.base, data)
    body = json.loads(r.body)
    assert (r.status, body["error"]) == (400, "SCHEMA_INVALID"), r
    assert body["message"] == "the server could not read this HTTP request."
    assert r.headers["x-request-id"] == body["request_id"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"] == "application/json"
    if live.profile == "embedded":
        assert r.closed
    if live.profile == "embedded" or b"\x01" in data:  # pool-api answered: one access line
        lines = (live.root / "logs/api_access.log").read_text().splitlines()
        line = next(json.loads(ln) for ln in lines if body["request_id"] in ln)
        assert (line["status"], line["code"], line["route"]) == (400, "SCHEMA_INVALID",
                                                                "unmatched")


def test_pool_api_runs_the_apis_http_protocol(embedded: Live) -> None:
    """`api up` and the benchmark run pool-api with the same protocol class."""
    import psutil

    from vvtvlib.api.protocols import HTTP_PROTOCOL
    api = next(c for c in embedded.status["processes"] if c["name"] == "pool-api")
    cmd = psutil.Process(api["pid"]).cmdline()
    assert cmd[cmd.index("--http") + 1] == HTTP_PROTOCOL
    bench = (Path(__file__).resolve().parents[2] / "benchmarks/bench_api.py").read_text()
    assert 'uvicorn("vvtvlib.api.app:app_from_env"' in bench
    assert "http=HTTP_PROTOCOL" in bench.split('uvicorn("vvtvlib.api.app:app_from_env"')[1]


ALIKE = [("GET", "/nothing", None), ("GET", "/v1/nothing", None), ("POST", "/metrics/x", None),
         ("DELETE", "/v1/infer", "POST"), ("PUT", "/v1/infer", "POST"),
         ("PATCH", "/v1/infer", "POST"), ("GET", "/v1/infer", "POST"),
         ("OPTIONS", "/v1/infer", "POST"), ("DELETE", "/v1/usage", "GET, HEAD"),
         ("POST", "/v1/health/ready", "GET, HEAD"), ("PUT", "/v1/keys/rotate", "POST"),
         ("TRACE", "/v1/usage", "GET, HEAD"), ("TRACE", "/nothing", None),
         ("PROPFIND", "/v1/usage", None), ("FOO", "/v1/infer", None), ("FOO", "/nothing", None)]


@pytest.mark.parametrize(("method", "target", "allow"), ALIKE,
                         ids=[f"{m} {t}" for m, t, _ in ALIKE])
def test_both_profiles_answer_an_unknown_route_or_method_alike(
        embedded: Live, gateway: Live, method: str, target: str, allow: str | None) -> None:
    """Same status, code, message and headers from pool-api alone and through nginx (only the
    request id differs): 404 off the routes, 405 with Allow for a route's other methods (and
    TRACE anywhere), 400 for a method HTTP does not define."""
    seen = []
    for lv in (embedded, gateway):
        r = httpx.request(method, lv.base + target, content=b'{"a": 1}' if method in (
            "POST", "PUT", "PATCH", "DELETE") else None)
        body = r.json()
        assert r.headers["x-request-id"] == body["request_id"], lv.profile
        assert r.headers["x-content-type-options"] == "nosniff", lv.profile
        assert r.headers["content-type"] == "application/json", lv.profile
        seen.append((r.status_code, body["error"], body["message"], r.headers.get("allow")))
    assert seen[0] == seen[1]
    status = 405 if allow or method == "TRACE" else 400 if method in ("PROPFIND", "FOO") \
        else 404
    assert seen[0][0] == status and seen[0][3] == allow


def test_other_methods_on_infer_get_the_apis_405_not_the_wafs_403(gateway: Live) -> None:
    """The gateway checks the method before the CRS scores it (911100): 405 with Allow even
    with an attack in the body, while the same attack POSTed is still the WAF's 403."""
    live = gateway
    evil = json.dumps({"task": "expand_queries", "payload": {
        "seed": "1' UNION SELECT password FROM users -- <script>alert(1)</script>"}})
    for method, target in (("DELETE", "/v1/infer"), ("PUT", "/v1/%69nfer"),
                           ("PATCH", "/v1/infer?x=1")):
        for content in (None, evil):
            r = httpx.request(method, live.base + target, content=content,
                              headers={"Content-Type": "application/json"})
            assert (r.status_code, r.json()["error"]) == (405, "METHOD_NOT_ALLOWED"), r.text
            assert r.headers["allow"] == "POST"
            assert r.headers["x-request-id"] == r.json()["request_id"]
            assert r.headers["x-content-type-options"] == "nosniff"
    r = httpx.post(live.base + "/v1/infer", content=evil,
                   headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (403, "AUTH_FAILED")
