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
from .config import ApiConfig
from .init import api_init
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
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name=f"api-{port}",
                                       daemon=True)

    def start(self, timeout_s: float = 20) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise TimedOut(f"pool-api did not start on port {self.port}")
            time.sleep(0.02)

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


def infer_body(seed: str = "jazz", task: str = "expand_queries",
               strategy: str = "FASTEST") -> dict[str, Any]:
    from vvtvlib.pool.lab import sample_payload

    payload = {"seed": seed} if task == "expand_queries" else sample_payload(task)
    return {"task": task, "strategy": strategy, "payload": payload}
