"""A lab API: pool-api served by uvicorn in a thread on a free port, over emulated models,
with a signing client. Tests, the acceptance features, the drill and the benchmark use it.

    with ApiLab(tmp_path) as lab:
        acme = lab.tenant("Acme", scopes=["infer", "usage"])
        r = lab.call(acme, "POST", "/v1/infer", {"task": "expand_queries", ...})
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import TimedOut
from vvtvlib.core.wait import wait_until
from vvtvlib.pool.emulator.process import (
    EmulatorProcess,
    config_for,
    free_port,
    start_emulators,
    stop_all,
)
from vvtvlib.pool.lab import parse_models

from .app import Gateway, create_app
from .canonical import headers as signed_headers
from .config import ApiConfig, Plan
from .init import api_init
from .protocols import HTTP_PROTOCOL
from .tenants import Credentials, TenantStore, open_tenants


@dataclass
class Client:
    """A tenant's credentials as its client holds them."""

    tenant_id: str
    key: str
    secret: str = field(repr=False)

    @classmethod
    def of(cls, c: Credentials) -> Client:
        return cls(c.tenant_id, c.api_public_key, c.api_secret)


class ServerThread:
    def __init__(self, app: Any, port: int) -> None:
        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", access_log=False,
                                                    lifespan="on", http=HTTP_PROTOCOL))
        self.thread = threading.Thread(target=self.server.run, name=f"api-{port}",
                                       daemon=True)

    def start(self, timeout_s: float = 60) -> None:
        self.thread.start()

        def started() -> bool:
            if not self.thread.is_alive():
                raise TimedOut(f"pool-api did not start on port {self.port}")
            return bool(self.server.started)

        wait_until(started, timeout_s, 0.02, on_timeout=lambda: TimedOut(
            f"pool-api did not start on port {self.port} within {timeout_s:g} s"))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class ApiLab:
    def __init__(self, root: str | Path, *, models: str = "m1@0,m2@0",
                 clock: Clock = SYSTEM_CLOCK, config: ApiConfig | None = None,
                 limits_uri: str = "memory://",
                 emulators: list[EmulatorProcess] | None = None,
                 pool: dict[str, Any] | None = None, messy_rate: float = 0.0) -> None:
        self.root = Path(root)
        self.models, self.clock, self.config = models, clock, config
        self.limits_uri, self.pool_settings = limits_uri, pool or {"cache_ttl_s": 0}
        self.emulators = list(emulators or [])
        self.owns_emulators = emulators is None
        self.messy_rate = messy_rate
        self.server: ServerThread | None = None
        self.http = httpx.Client(timeout=30)
        self.base_url = ""

    def start(self) -> ApiLab:
        if not (self.root / "api" / "configs" / "api.toml").exists():
            api_init(self.root, port=free_port())
        if self.owns_emulators:
            self.emulators = start_emulators(parse_models(self.models),
                                             messy_rate=self.messy_rate)
        cfg = config_for(self.emulators, pool=self.pool_settings)
        app = create_app(self.root, clock=self.clock, limits_uri=self.limits_uri,
                         pool_config=cfg, config=self.config)
        self.gateway: Gateway = app.state.gateway
        self.server = ServerThread(app, free_port())
        self.server.start()
        self.base_url = f"http://127.0.0.1:{self.server.port}"
        return self

    def __enter__(self) -> ApiLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.http.close()
        if self.owns_emulators:
            stop_all(self.emulators)

    @property
    def tenants(self) -> TenantStore:
        return self.gateway.tenants

    def tenant(self, name: str = "Acme", *, plan: str = "pro", rpm: int = 6000,
               burst: int = 1000, scopes: list[str] | None = None) -> Client:
        store = open_tenants(self.root, self.clock)
        try:
            c = store.create(name, plan, rpm, burst, scopes or ["infer", "usage"])
        finally:
            store.close()
        self.gateway.tenants.invalidate()
        return Client.of(c)

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def sign(self, client: Client, method: str, target: str, body: bytes = b"", *,
             ts_ms: int | None = None, nonce: str | None = None) -> dict[str, str]:
        return signed_headers(client.key, client.secret, method, target, body,
                              ts_ms=self.now_ms() if ts_ms is None else ts_ms,
                              nonce=nonce or str(uuid.uuid4()))

    def call(self, client: Client | None, method: str, target: str,
             body: dict[str, Any] | bytes | None = None, *,
             headers: dict[str, str] | None = None, **sign_kw: Any) -> httpx.Response:
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode()
                                                    if body is not None else b"")
        h = {"Content-Type": "application/json"}
        if client is not None:
            h.update(self.sign(client, method, target, raw, **sign_kw))
        h.update(headers or {})
        return self.http.request(method, self.base_url + target, content=raw, headers=h)


# Acceptance plans: limits high enough that only the scenario under test refuses, and a free
# plan whose 10 requests a month make the quota reachable in a scenario.
ACCEPTANCE_PLANS = {
    "free": Plan(rpm=60000, burst=1000, requests_month=10, tokens_month=10**9),
    "pro": Plan(rpm=60000, burst=1000, requests_month=10**6, tokens_month=10**9),
    "enterprise": Plan(rpm=60000, burst=1000, requests_month=10**6, tokens_month=10**9),
}


def infer_body(seed: str = "jazz", task: str = "expand_queries",
               strategy: str = "FASTEST") -> dict[str, Any]:
    from vvtvlib.pool.lab import sample_payload

    payload = {"seed": seed} if task == "expand_queries" else sample_payload(task)
    return {"task": task, "strategy": strategy, "payload": payload}


# -- what the drill shows ---------------------------------------------------------------------
CURL_CLIENT = Path(__file__).resolve().parent / "templates" / "hmac_client.sh"
SEED_BODY = '{"task":"expand_queries","strategy":"FASTEST","payload":{"seed":"abc"}}'
EXPECTED_STATUS = {"AUTH_FAILED": 401, "NONCE_REPLAY": 409, "BODY_TOO_LARGE": 413,
                   "SCHEMA_INVALID": 422, "RATE_LIMITED": 429, "PROVIDER_FAILED": 502,
                   "NOT_READY": 503, "DEADLINE_EXCEEDED": 504, "QUOTA_EXCEEDED": 402}


def curl(base_url: str, client: Client, method: str, target: str, body: str = "",
         **env: str) -> tuple[int, dict[str, Any]]:
    """The seed's curl client (``hmac_client.sh``): (status, parsed JSON body)."""
    import os
    import subprocess

    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BASE": base_url, "KEY": client.key,
         "SECRET": client.secret, **env}
    out = subprocess.run(["bash", str(CURL_CLIENT), method, target, body], capture_output=True,
                         text=True, env=e, check=True, timeout=60).stdout
    lines = out.rstrip("\n").split("\n")
    return int(lines[-1]), json.loads("\n".join(lines[:-1]))


def error_tour(lab: ApiLab, client: Client, quota_requests: int,
               suspend: Any = None) -> list[dict[str, Any]]:
    """Provoke every error code once through the curl client; one row per answer.
    ``suspend(tenant_id)`` suspends a tenant (the drill runs `vvtvctl tenants suspend`)."""
    rows: list[dict[str, Any]] = []

    def show(expected: str, status: int, body: dict[str, Any]) -> None:
        rows.append({"expected": expected, "status": status, "error": body.get("error"),
                     "message": body.get("message"), "request_id": body.get("request_id")})

    def c(t: Client, body: str = SEED_BODY, **env: str) -> tuple[int, dict[str, Any]]:
        return curl(lab.base_url, t, "POST", "/v1/infer", body, **env)

    show("AUTH_FAILED", *c(client, SIG="A" * 44))
    show("AUTH_FAILED", *c(client, TS=str(int(time.time() * 1000) - 360_000)))
    nonce = str(uuid.uuid4())
    c(client, NONCE=nonce)
    show("NONCE_REPLAY", *c(client, NONCE=nonce))
    big = lab.root / "big.json"
    big.write_bytes(b"a" * (1024 * 1024 + 1))
    show("BODY_TOO_LARGE", *c(client, "", BODY_FILE=str(big)))
    show("SCHEMA_INVALID", *c(client, '{"task":"write_poem","payload":{}}'))
    gone = lab.tenant("Suspended")
    (suspend or (lambda tid: lab.tenants.set_status(tid, "suspended")))(gone.tenant_id)
    time.sleep(1.0)  # within one second, no restart
    show("AUTH_FAILED", *c(gone))
    tiny = lab.tenant("Tiny", rpm=60, burst=1)
    c(tiny)
    show("RATE_LIMITED", *c(tiny))
    for em in lab.emulators:
        em.faults(down=True)
    show("PROVIDER_FAILED", *c(client, '{"task":"expand_queries","payload":{"seed":"down"}}'))
    time.sleep(1.1)  # the readiness probe is refreshed once a second
    r = lab.call(None, "GET", "/v1/health/ready")
    show("NOT_READY", r.status_code, r.json())
    for em in lab.emulators:
        em.clear_faults()
        em.faults(latency_ms=2000)
    show("DEADLINE_EXCEEDED", *c(client, '{"task":"expand_queries","payload":{"seed":"slow"},'
                                         '"hints":{"deadline_ms":200}}'))
    for em in lab.emulators:
        em.clear_faults()
    small = lab.tenant("Small", plan="free")
    for i in range(quota_requests):
        lab.call(small, "POST", "/v1/infer", infer_body(f"q{i}"))
    show("QUOTA_EXCEEDED", *c(small))
    return rows


def as_expected(row: dict[str, Any]) -> bool:
    if row["error"] != row["expected"]:
        return False
    return bool(row["status"] == EXPECTED_STATUS[row["error"]] or
                (row["error"] == "AUTH_FAILED" and row["status"] == 403))


def paced(lab: ApiLab, client: Client, n: int, rps: float) -> list[dict[str, Any]]:
    """``n`` inferences at ``rps``: when each went and how it was answered."""
    t0 = time.monotonic()
    rows = []
    for i in range(n):
        r = lab.call(client, "POST", "/v1/infer", infer_body(f"paced {i}"))
        rows.append({"at_s": time.monotonic() - t0, "status": r.status_code,
                     "retry_after": r.headers.get("retry-after"),
                     "warning": r.headers.get("x-quota-warning") or ""})
        time.sleep(max(0.0, (i + 1) / rps - (time.monotonic() - t0)))
    return rows
