"""pool-api: the public routes over the pool (ASGI under uvicorn; Starlette for lifespan,
``/metrics`` and fallbacks, the API's own routes answered straight from ASGI by ``ApiRoutes``).

``create_app(root)`` builds the app for a station root; ``app_from_env`` is uvicorn's factory
(``VVTV_ROOT``, ``VVTV_API_LIMITS``). The request path is ``Gateway.stages`` then the route
then ``Gateway.observers`` (see ``pipeline.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import ipaddress
import math
import os
import re
import threading
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.log import get_logger
from vvtvlib.core.trace import continue_or_start, use_trace
from vvtvlib.pool import InferRequest, NotReady, Pool, SchemaInvalid
from vvtvlib.pool.config import PoolConfig
from vvtvlib.pool.errors import Drained
from vvtvlib.pool.tasks import warm_up

from . import canonical, jwtauth
from .audit import AuditWriter, event_record, truncate_ip
from .config import ApiConfig, ApiLayout, load_api_config
from .errors import (
    BAD_REQUEST_MESSAGE,
    HTTP_METHODS,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    METHOD_NOT_ALLOWED_MESSAGE,
    NEVER_SERVED,
    NOT_FOUND,
    NOT_FOUND_MESSAGE,
    SCHEMA_INVALID,
    AuthFailed,
    BodyTooLarge,
    Forbidden,
    NonceReplay,
    QuotaExceeded,
    RateLimited,
    allow_for,
)
from .limits import LimitStore, open_store
from .metrics import default_metrics, exposition
from .pipeline import Call, Observer, Stage, public_message, status_for
from .quota_events import QuotaWarning, QuotaWebhook, audit_line
from .secrets import MasterKey
from .tenants import TenantStore, UsageEvent, month_start
from .usage import summarize

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
CN_RE = re.compile(r"(?:^|[,/])CN=([^,/]+)")
INFER_KEYS = {"task", "strategy", "payload", "hints"}
HINT_KEYS = {"deadline_ms", "max_tokens"}
TOKENS_RESERVED = 256  # tokens reserved per inference at admission, settled afterwards


@dataclass(frozen=True)
class Answer:
    """What a route answers: the status, the JSON body and the response headers."""

    status: int
    body: bytes
    headers: dict[str, str]

    def response(self) -> Response:
        return Response(self.body, self.status, self.headers, media_type="application/json")

    async def send(self, send: Send) -> None:
        """Straight to the ASGI server, as ``response()`` would be sent."""
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(self.body)).encode("latin-1"))]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


@dataclass(frozen=True)
class RouteSpec:
    name: str
    path: str
    method: str
    weight: float
    scope: str | None  # None: no authentication (health)
    quota: bool
    handler: Callable[[Call], Awaitable[tuple[int, dict[str, Any]]]]


class UsageWriter:
    """Usage events buffered in memory and written to ``usage_events`` in batches."""

    def __init__(self, store: TenantStore) -> None:
        self.store = store
        self._buf: list[UsageEvent] = []
        self._lock = threading.Lock()

    def add(self, event: UsageEvent) -> None:
        with self._lock:
            self._buf.append(event)

    def flush(self) -> None:
        with self._lock:
            buf, self._buf = self._buf, []
        self.store.record_usage(buf)


class Gateway:
    def __init__(self, root: str | Path | None, *, clock: Clock = SYSTEM_CLOCK,
                 limits_uri: str | None = None, pool_config: PoolConfig | None = None,
                 config: ApiConfig | None = None) -> None:
        self.layout = ApiLayout(root)
        self.config = config or load_api_config(root)
        self.clock = clock
        master = MasterKey.load(self.layout.master_key)
        self.tenants = TenantStore(self.layout.tenants_db, master, clock=clock)
        self.limits: LimitStore = open_store(limits_uri or os.environ.get("VVTV_API_LIMITS")
                                             or self.config.limits.backend, clock,
                                             default_db=self.layout.tenants_db)
        self.pool_config = pool_config
        self.pool: Pool | None = None
        self.usage = UsageWriter(self.tenants)
        tok = self.layout.gateway_token
        self.gateway_token = tok.read_text().strip().encode() if tok.exists() else b""
        self._jwks: jwtauth.Jwks | None = None
        self._jwks_mtime = -1.0
        self._jwks_checked = -1e9
        self._month_seed: dict[tuple[str, str], tuple[int, int]] = {}
        self._probe: dict[str, float | None] = {}
        self._probed_at = -1e9
        self.schemas_compiled = 0  # by start(), before the first request
        self._probe_lock: asyncio.Lock | None = None
        self.log = get_logger("pool-api", path=self.layout.error_log)
        self.audit = AuditWriter(self.layout.audit_log, clock=clock)
        self.quota_events = QuotaWebhook(self.layout.root, self.config.billing, self.limits,
                                         self._audit_delivery)
        self.metrics = default_metrics()
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        self._access_fd = os.open(self.layout.access_log,
                                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        a = self.config.auth
        self.skew_ms, self.nonce_ttl_ms = a.skew_s * 1000, a.nonce_ttl_s * 1000
        w = self.config.weights
        self.routes = [
            RouteSpec("health", "/v1/health/ready", "GET", 0, None, False, self.health),
            RouteSpec("infer", "/v1/infer", "POST", w.infer, "infer", True, self.infer),
            RouteSpec("usage", "/v1/usage", "GET", w.usage, "usage", False, self.usage_route),
            RouteSpec("keys_rotate", "/v1/keys/rotate", "POST", w.keys_rotate, "keys:rotate",
                      False, self.rotate),
        ]
        self.stages: list[Stage] = [self.read_body, self.authenticate, self.admit,
                                    self.rate_limit, self.reserve_quota]
        self.observers: list[Observer] = [self.settle_quota, self.record_usage,
                                          self.audit.observe, self.quota_events.observe,
                                          self.metrics.observe, self.access_log]

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._probe_lock = asyncio.Lock()
        self.schemas_compiled = warm_up()  # before the first request: none pays for it
        cfg = self.pool_config
        self.pool = Pool(cfg, root=self.layout.root) if cfg else Pool.from_root(self.layout.root)
        self.metrics.prime([r.path for r in self.routes], [t.id for t in self.tenants.all()])
        self._flusher = asyncio.create_task(self._flush_loop())
        self._audit_flusher = asyncio.create_task(self._audit_loop())
        self.quota_events.start()

    async def stop(self) -> None:
        for task in (self._flusher, self._audit_flusher):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.usage.flush()
        self.quota_events.stop()
        try:
            self.audit.flush()
        except Exception as exc:
            self.log.error("audit flush failed", error=type(exc).__name__,
                           detail=str(exc)[:300], pending=self.audit.pending())
        with contextlib.suppress(OSError):
            os.close(self._access_fd)
        if self.pool is not None:
            await self.pool.aclose()
        self.limits.close()
        self.tenants.close()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await asyncio.to_thread(self.usage.flush)
            except Exception as exc:  # a locked or full disk must not stop the API
                self.log.error("usage flush failed", error=type(exc).__name__)

    async def _audit_loop(self) -> None:
        from .audit import FLUSH_AT, FLUSH_EVERY_S

        waited = 0.0
        while True:
            await asyncio.sleep(0.05)
            waited += 0.05
            if waited < FLUSH_EVERY_S and self.audit.pending() < FLUSH_AT:
                continue
            waited = 0.0
            try:
                await asyncio.to_thread(self.audit.flush)
            except Exception as exc:  # a tampered log is refused, never re-anchored
                self.log.error("audit flush failed", error=type(exc).__name__,
                               detail=str(exc)[:300], pending=self.audit.pending(),
                               dropped=self.audit.dropped)

    # -- the request path ------------------------------------------------------------------
    async def handle(self, scope: Scope, receive: Receive, spec: RouteSpec
                     ) -> Answer:
        """One request of an API route: the pipeline's answer (status, JSON body, headers)."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        trusted = self._from_gateway(headers)
        rid = headers.get("x-request-id", "") if trusted else ""
        if not REQUEST_ID_RE.match(rid):
            rid = str(uuid.uuid4())
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        qs: bytes = scope.get("query_string", b"")
        client = scope.get("client") or ("", 0)
        call = Call(rid, scope["method"], raw_path + (b"?" + qs if qs else b""),
                    scope["path"], qs.decode("latin-1"), headers, b"",
                    headers.get("x-real-ip", client[0]) if trusted else client[0],
                    self._now_ms(), route=spec.name, weight=spec.weight, scope=spec.scope,
                    quota=spec.quota, request=receive)
        call.path = spec.path
        call.trace = continue_or_start(headers.get("traceparent"))
        with use_trace(call.trace):
            return await self._run(call, spec)

    async def _run(self, call: Call, spec: RouteSpec) -> Answer:
        rid = call.request_id
        body: dict[str, Any]
        try:
            if spec.scope is not None:
                for stage in self.stages:
                    await stage(call)
            status, body = await spec.handler(call)
        except Exception as exc:
            status, code = status_for(exc)
            if status == 500:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                self.log.error("unexpected error", request_id=rid, route=spec.path,
                               error=type(exc).__name__, detail=str(exc)[:200],
                               where=f"{Path(where.filename).name}:{where.lineno}")
            if isinstance(exc, RateLimited):
                call.response_headers["Retry-After"] = str(exc.retry_after_s)
            body = {"error": code, "message": public_message(exc), "request_id": rid}
            call.code = code
        call.status = status
        payload = orjson.dumps(body)
        call.bytes_out = len(payload)
        self.observe(call)
        return Answer(status, payload, {"X-Request-Id": rid, "X-Content-Type-Options": "nosniff",
                                        **call.response_headers})

    def unreadable(self, headers: dict[str, str], client_ip: str) -> str:
        """A request the HTTP parser could not read (pool-api's protocol answers it 400): its
        request id (the gateway's when the headers read before the fault carry it), the
        request observed (audit, metrics, access log) as an unmatched route's answer is."""
        rid = self.request_id(headers)
        if self._from_gateway(headers):
            client_ip = headers.get("x-real-ip", client_ip)
        call = Call(rid, "-", b"", "unmatched", "", {}, b"", client_ip, self._now_ms(),
                    route="unmatched", status=400, code=SCHEMA_INVALID)
        self.observe(call)
        return rid

    def observe(self, call: Call) -> None:
        for observer in self.observers:
            try:
                observer(call)
            except Exception as exc:
                self.log.error("observer failed", request_id=call.request_id,
                               error=type(exc).__name__)

    def access_log(self, call: Call) -> None:
        """``logs/api_access.log``: one JSON line per request (no body, no credential,
        the IP truncated), with the request's W3C trace and span ids."""
        tr = call.trace
        line = orjson.dumps({
            "ts": utc_iso(self.clock.now()), "service": "pool-api", "severity": "INFO",
            "msg": "request", "trace_id": tr.trace_id if tr else None,
            "span_id": tr.span_id if tr else None, "request_id": call.request_id,
            "method": call.method, "route": call.path, "status": call.status,
            "code": call.code, "duration_ms": round(call.duration_ms, 3),
            "tenant_id": call.tenant_id, "ip": truncate_ip(call.client_ip),
            "bytes_in": len(call.body), "bytes_out": call.bytes_out})
        os.write(self._access_fd, line + b"\n")

    def _audit_delivery(self, ev: QuotaWarning, attempt: int, status: int | None,
                        error: str | None, outcome: str) -> None:
        self.audit.add(event_record("webhook_delivery", ev.tenant_id, actor="pool-api",
                                    ts=utc_iso(self.clock.now()),
                                    **audit_line(ev, attempt, status, error, outcome)))

    def request_id(self, headers: dict[str, str]) -> str:
        """The gateway's ``X-Request-Id`` when the request came through it, else a new one."""
        rid = headers.get("x-request-id", "") if self._from_gateway(headers) else ""
        return rid if REQUEST_ID_RE.match(rid) else str(uuid.uuid4())

    def _from_gateway(self, headers: dict[str, str]) -> bool:
        tok = headers.get("x-gateway-token")
        return bool(self.gateway_token and tok and
                    hmac.compare_digest(tok.encode("latin-1"), self.gateway_token))

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # -- stages -----------------------------------------------------------------------------
    async def read_body(self, call: Call) -> None:
        limit = self.config.server.body_limit
        cl = call.headers.get("content-length", "")
        if cl.isdigit() and int(cl) > limit:
            raise BodyTooLarge(f"the body is larger than {limit} bytes")
        receive: Receive = call.request
        chunks, n, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            n += len(chunk)
            if n > limit:
                raise BodyTooLarge(f"the body is larger than {limit} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        call.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def authenticate(self, call: Call) -> None:
        h = call.headers
        bearer = h.get("authorization", "")
        if bearer[:7].lower() == "bearer ":
            try:
                self._jwt(call, bearer[7:].strip())
                return
            except AuthFailed:
                if "x-api-key" not in h:
                    raise
        if "x-api-key" in h:
            self._hmac(call)
        elif self._from_gateway(h) and h.get("x-client-verify") == "SUCCESS":
            m = CN_RE.search(h.get("x-client-s-dn", ""))
            tid = self.tenants.tenant_for_cn(m.group(1)) if m else None
            tenant = self.tenants.tenant(tid) if tid else None
            if tenant is None:
                raise AuthFailed("the client certificate is not mapped to a tenant")
            call.tenant, call.auth = tenant, "mtls"
        else:
            raise AuthFailed("no credentials: sign the request (X-Api-Key, X-Timestamp, "
                             "X-Nonce, X-Signature) or send a bearer token")

    def _hmac(self, call: Call) -> None:
        h = call.headers
        key = self.tenants.key(h.get("x-api-key", ""))
        now = call.at_ms
        if key is None or not key.usable_at(now):
            raise AuthFailed("unknown or inactive API key")
        ts, nonce, sig = h.get("x-timestamp", ""), h.get("x-nonce", ""), h.get("x-signature", "")
        if not canonical.TS_RE.match(ts):
            raise AuthFailed("X-Timestamp must be epoch milliseconds (digits only)")
        if abs(now - int(ts)) > self.skew_ms:
            raise AuthFailed(f"X-Timestamp is more than {self.skew_ms // 1000} s away from "
                             "the server's clock")
        if not canonical.NONCE_RE.match(nonce):
            raise AuthFailed("X-Nonce must be a UUID")
        if not sig or not canonical.verify(key.secret, sig, call.method, call.target,
                                           call.body, ts, nonce):
            raise AuthFailed("the signature does not match")
        tenant = self.tenants.tenant(key.tenant_id)
        if tenant is None:
            raise AuthFailed("unknown or inactive API key")
        call.tenant, call.auth, call.key_id = tenant, "hmac", key.public_key  # it is them
        if not self.limits.once(f"nonce:{tenant.id}:{nonce.lower()}", self.nonce_ttl_ms):
            raise NonceReplay("this nonce was already used")

    def _jwt(self, call: Call, token: str) -> None:
        a = self.config.auth
        claims = jwtauth.verify(token, self.jwks(), now_s=call.at_ms / 1000,
                                max_ttl_s=a.jwt_max_ttl_s, issuer=a.jwt_issuer,
                                audience=a.jwt_audience)
        tenant = self.tenants.tenant(claims.tenant_id)
        if tenant is None:
            raise AuthFailed("the bearer token names an unknown tenant")
        call.tenant, call.auth, call.key_id = tenant, "jwt", claims.kid
        call.events.append({"jwt_scopes": list(claims.scopes)})

    def jwks(self) -> jwtauth.Jwks:
        now = self.clock.monotonic()
        if self._jwks is None or now - self._jwks_checked > 1.0:
            self._jwks_checked = now
            path = self.layout.jwks
            mtime = path.stat().st_mtime if path.exists() else 0.0
            if self._jwks is None or mtime != self._jwks_mtime:
                self._jwks, self._jwks_mtime = jwtauth.Jwks.load(path, self.clock), mtime
        return self._jwks

    async def admit(self, call: Call) -> None:
        t = call.tenant
        assert t is not None
        if not t.active:
            raise Forbidden("the tenant is suspended")
        allowed = set(t.scopes)
        if call.auth == "jwt":
            allowed &= set(next((e["jwt_scopes"] for e in call.events if "jwt_scopes" in e),
                                []))
        if call.scope not in allowed:
            raise Forbidden(f"the scope {call.scope!r} is not allowed for this tenant")

    async def rate_limit(self, call: Call) -> None:
        t = call.tenant
        assert t is not None
        if call.weight <= 0:
            return
        self._operator_flags(call, t.id)
        d = self.limits.take(f"rl:{t.id}", float(t.rps_burst), t.rpm_limit / 60.0, call.weight)
        if not d.allowed:
            wait = d.retry_after_s if math.isfinite(d.retry_after_s) else 60
            raise RateLimited("the tenant's rate limit is exhausted; retry later",
                              retry_after_s=max(1, math.ceil(wait)))
        if t.tpm_limit and call.quota:  # tokens per minute: reserve, settle afterwards
            d = self.limits.take(f"tpm:{t.id}", float(t.tpm_limit), t.tpm_limit / 60.0,
                                 TOKENS_RESERVED)
            if not d.allowed:
                wait = d.retry_after_s if math.isfinite(d.retry_after_s) else 60
                raise RateLimited("the tenant's tokens per minute are exhausted; retry later",
                                  retry_after_s=max(1, math.ceil(wait)))
            call.tpm_reserved = TOKENS_RESERVED

    def _operator_flags(self, call: Call, tenant_id: str) -> None:
        """The on-call flags (``vvtvctl ops drain --service api``, ``vvtvctl flags set
        api.burst_shedding=on``), re-read by the pool on each request: a drained API
        answers /v1/infer with DRAINED (503), health and usage stay up; burst shedding
        limits /v1/infer to ``api.shed_rps_per_tenant`` per tenant (429)."""
        if self.pool is None or call.route != "infer":
            return
        flags = self.pool.flags()
        if flags.drain.api:
            reason = flags.drain.reason or "no reason given"
            raise Drained(f"the API is drained for maintenance ({reason}); retry later")
        if flags.api.burst_shedding:
            rps = float(flags.api.shed_rps_per_tenant)
            d = self.limits.take(f"shed:{tenant_id}", rps, rps, 1)
            if not d.allowed:
                raise RateLimited(f"burst shedding: /v1/infer is limited to {rps:g} requests "
                                  "per second per tenant; retry later", retry_after_s=1)

    def _quota_keys(self, tid: str) -> tuple[list[str], str]:
        month = self.clock.now().astimezone(UTC).strftime("%Y%m")
        return [f"q:{tid}:{month}:req", f"q:{tid}:{month}:tok"], month

    async def reserve_quota(self, call: Call) -> None:
        t = call.tenant
        if not call.quota or t is None:
            return
        plan = self.config.plan(t.plan)
        keys, month = self._quota_keys(t.id)
        seed = self._month_seed.get((t.id, month))
        if seed is None:
            start = int(month_start(self.clock.now()).timestamp() * 1000)
            seed = self._month_seed[(t.id, month)] = self.tenants.month_totals(t.id, start)
        amounts = [1, TOKENS_RESERVED]
        limits = [plan.requests_month, plan.tokens_month]
        r = self.limits.reserve(keys, amounts, limits, list(seed), 40 * 86400 * 1000)
        if not r.allowed:
            raise QuotaExceeded("the tenant's monthly quota is used up")
        call.reserved = dict(zip(keys, amounts, strict=True))
        used = max(u / lim for u, lim in zip(r.used, limits, strict=True))
        level = 90 if used >= 0.9 else 80 if used >= 0.8 else 0
        if level:
            call.response_headers["X-Quota-Warning"] = f"{level}%"
            call.events.append({"quota_warning": level, "used": round(used, 4)})

    # -- observers --------------------------------------------------------------------------
    def settle_quota(self, call: Call) -> None:
        t = call.tenant
        if call.tpm_reserved and t is not None and t.tpm_limit:
            used = call.tokens_in + call.tokens_out if call.status == 200 else 0
            self.limits.take(f"tpm:{t.id}", float(t.tpm_limit), t.tpm_limit / 60.0,
                             used - call.tpm_reserved, force=True)
        if not call.reserved:
            return
        req_key, tok_key = list(call.reserved)
        if call.status != 200:  # not billed: give the reservation back
            self.limits.adjust(req_key, -call.reserved[req_key])
            self.limits.adjust(tok_key, -call.reserved[tok_key])
        else:
            self.limits.adjust(tok_key, call.tokens_in + call.tokens_out
                               - call.reserved[tok_key])

    def record_usage(self, call: Call) -> None:
        if call.tenant is None:
            return
        self.usage.add(UsageEvent(call.at_ms, call.tenant.id, call.path, call.tokens_in,
                                  call.tokens_out, int(call.duration_ms), call.status,
                                  call.request_id, len(call.body), call.bytes_out))

    # -- routes -----------------------------------------------------------------------------
    async def ready(self) -> bool:
        assert self.pool is not None and self._probe_lock is not None
        async with self._probe_lock:
            if self.clock.monotonic() - self._probed_at > 1.0:
                self._probe = await self.pool.probe()
                self._probed_at = self.clock.monotonic()
        return any(self._probe.get(m.id) is not None for m in self.pool.usable())

    async def health(self, call: Call) -> tuple[int, dict[str, Any]]:
        if not await self.ready():
            raise NotReady("no provider is healthy")
        assert self.pool is not None
        return 200, {"status": "ready", "request_id": call.request_id,
                     "providers": [{"id": h.id, "up": self._probe.get(h.id) is not None,
                                    "breaker": h.breaker, "enabled": h.enabled}
                                   for h in self.pool.health()]}

    async def infer(self, call: Call) -> tuple[int, dict[str, Any]]:
        req = parse_infer(call.body, call.tenant_id or "")
        call.task, call.strategy = req.task, req.strategy
        assert self.pool is not None
        r = await self.pool.infer(req)
        call.tokens_in, call.tokens_out = r.tokens_in, r.tokens_out
        call.provider, call.from_cache, call.hedge = r.winner_provider, r.from_cache, r.hedge
        return 200, {"request_id": call.request_id, "tenant_id": call.tenant_id,
                     "winner_model": r.winner_model, "strategy_used": r.strategy_used,
                     "duration_ms": r.duration_ms, "from_cache": r.from_cache,
                     "content": r.content}

    async def usage_route(self, call: Call) -> tuple[int, dict[str, Any]]:
        from urllib.parse import parse_qs

        t = call.tenant
        assert t is not None
        q = {k: v[-1] for k, v in parse_qs(call.query, keep_blank_values=True).items()}
        if q.get("tenant_id", t.id) != t.id:
            raise Forbidden("a tenant can read only its own usage")
        unknown = set(q) - {"from", "to", "tenant_id"}
        if unknown:
            raise SchemaInvalid(f"unknown query parameter {sorted(unknown)[0]!r}")
        now = self.clock.now()
        start = parse_when(q.get("from"), month_start(now))
        end = parse_when(q.get("to"), now, end_of_day=True)
        if end < start:
            raise SchemaInvalid("'to' is before 'from'")
        await asyncio.to_thread(self.usage.flush)
        events = self.tenants.usage(t.id, int(start.timestamp() * 1000),
                                    int(end.timestamp() * 1000) + 1)
        plan = self.config.plan(t.plan)
        keys, _ = self._quota_keys(t.id)
        summary = summarize(events)
        return 200, {"request_id": call.request_id, "tenant_id": t.id,
                     "from": start.isoformat(), "to": end.isoformat(), **summary,
                     "plan": t.plan, "quota": {"requests_month": plan.requests_month,
                                               "tokens_month": plan.tokens_month}}

    async def rotate(self, call: Call) -> tuple[int, dict[str, Any]]:
        t = call.tenant
        assert t is not None
        a = self.config.auth
        if a.rotate_every_s and not self.limits.once(f"rotate:{t.id}", a.rotate_every_s * 1000):
            keys = await asyncio.to_thread(self.tenants.keys_of, t.id)
            last = max((int(k["created_at"]) for k in keys), default=call.at_ms)
            wait_ms = last + a.rotate_every_s * 1000 - call.at_ms  # until the window ends
            raise RateLimited("keys can be rotated once per 24 h", retry_after_s=min(
                a.rotate_every_s, max(1, -(-wait_ms // 1000))))
        creds = await asyncio.to_thread(self.tenants.rotate, t.id, grace_s=a.key_grace_s,
                                        min_interval_s=a.rotate_every_s)
        call.events.append({"key_rotated": creds.api_public_key})
        return 200, {"request_id": call.request_id, **creds.to_dict()}


def parse_when(text: str | None, default: datetime, *, end_of_day: bool = False) -> datetime:
    if text is None or text == "":
        return default
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise SchemaInvalid("'from' and 'to' must be ISO dates (2026-01-31) or epoch ms"
                            ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    if end_of_day and len(text) == 10:
        dt = dt.replace(hour=23, minute=59, second=59, microsecond=999000)
    return dt


def parse_infer(body: bytes, tenant_id: str) -> InferRequest:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SchemaInvalid("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise SchemaInvalid("the body must be a JSON object")
    extra = set(data) - INFER_KEYS
    if extra:
        raise SchemaInvalid(f"unknown field {sorted(extra)[0]!r}")
    task, strategy = data.get("task"), data.get("strategy", "FASTEST")
    payload, hints = data.get("payload"), data.get("hints") or {}
    if not isinstance(task, str):
        raise SchemaInvalid("'task' must be a string")
    if not isinstance(strategy, str):
        raise SchemaInvalid("'strategy' must be a string")
    if not isinstance(payload, dict):
        raise SchemaInvalid("'payload' must be an object")
    if not isinstance(hints, dict) or set(hints) - HINT_KEYS:
        raise SchemaInvalid("'hints' may hold only deadline_ms and max_tokens")
    for k in HINT_KEYS:
        v = hints.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0
                              or v > 600_000):
            raise SchemaInvalid(f"hints.{k} must be a positive integer")
    from vvtvlib.pool.records import parse_strategy
    from vvtvlib.pool.tasks import parse_task

    parse_task(task)
    parse_strategy(strategy)
    return InferRequest(task, payload, strategy.upper(), tenant_id, hints.get("deadline_ms"),
                        hints.get("max_tokens"))


def create_app(root: str | Path | None, *, freeze: bool = False, **kwargs: Any) -> ApiRoutes:
    """The app; with ``freeze`` (a server process of its own) what start-up made, modules,
    schemas, configs and the pool, is kept out of the cyclic collector once started: it lives
    as long as the process, and a full collection over it took 40 ms, a latency spike."""
    gw = Gateway(root, **kwargs)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await gw.start()
        if freeze:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await gw.stop()

    def endpoint(spec: RouteSpec) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:  # HEAD, and any app mounted under a path
            return (await gw.handle(request.scope, request.receive, spec)).response()
        return run

    allow = {s.path: allow_for(s.method) for s in gw.routes}

    async def fallback(request: Request) -> Response:
        """Any method on any path no route took, as the gateway answers it: a method HTTP does
        not define 400, TRACE/CONNECT 405 everywhere, a route's other methods 405 (``Allow``),
        else 404."""
        rid = gw.request_id(dict(request.headers.items()))
        path, method = request.url.path, request.method
        if method not in HTTP_METHODS:
            status, code, message = 400, SCHEMA_INVALID, BAD_REQUEST_MESSAGE
        elif path in allow or method in NEVER_SERVED:
            status, code, message = 405, METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED_MESSAGE
        else:
            status, code, message = 404, NOT_FOUND, NOT_FOUND_MESSAGE
        client = request.client.host if request.client else ""
        call = Call(rid, method, b"", path, "", {}, b"", client,
                    gw._now_ms(), route="unmatched", status=status, code=code)
        call.path = path if path in allow else "unmatched"
        gw.observe(call)
        hdrs = {"X-Request-Id": rid, "X-Content-Type-Options": "nosniff"}
        if status == 405 and path in allow:
            hdrs["Allow"] = allow[path]
        return Response(orjson.dumps({"error": code, "message": message, "request_id": rid}),
                        status, hdrs, media_type="application/json")

    async def any_method(scope: Scope, receive: Receive, send: Send) -> None:
        await (await fallback(Request(scope, receive)))(scope, receive, send)

    async def last_resort(request: Request, exc: Exception) -> Response:
        """Starlette's outermost handler: whatever escaped, the client gets the error body."""
        return internal_error(gw, request.url.path, exc,
                              dict(request.headers.items())).response()

    async def metrics_page(request: Request) -> Response:
        """For the node's Prometheus only: a loopback client that did not come through the
        gateway (no proxy header); anyone else gets the 404 of an unknown route."""
        h = request.headers
        if not _loopback(request.client.host if request.client else "") or \
                "x-gateway-token" in h or "x-real-ip" in h or "x-forwarded-for" in h:
            return await fallback(request)
        body, ctype = await asyncio.to_thread(exposition)
        return Response(body, 200, {"X-Request-Id": str(uuid.uuid4()),
                                    "X-Content-Type-Options": "nosniff"}, media_type=ctype)

    routes = [Route(s.path, endpoint(s), methods=[s.method]) for s in gw.routes]
    routes.append(Route("/metrics", metrics_page, methods=["GET"]))
    # an ASGI endpoint takes every method: a full match, where a list of methods would leave
    # an unlisted one (TRACE, PROPFIND) to the framework's plain-text 405
    routes.append(Route("/{rest:path}", _AnyMethod(any_method)))
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={Exception: last_resort})
    app.state.gateway = gw
    return ApiRoutes(app, gw)


class _AnyMethod:
    """An ASGI endpoint Starlette's ``Route`` serves for every method (it restricts plain
    functions to GET/HEAD when given no list)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def internal_error(gw: Gateway, path: str, exc: Exception, headers: dict[str, str]) -> Answer:
    """The answer to an error nothing else caught (logged, never shown to the client); its
    request id is the gateway's when the request came through it."""
    rid = gw.request_id(headers)
    gw.log.error("unexpected error", request_id=rid, route=path, error=type(exc).__name__)
    return Answer(500, orjson.dumps({"error": INTERNAL_ERROR, "message": public_message(exc),
                                    "request_id": rid}),
                  {"X-Request-Id": rid, "X-Content-Type-Options": "nosniff"})


class ApiRoutes:
    """ASGI: the API's own routes straight to ``Gateway.handle``, everything else (lifespan,
    /metrics, 404/405, HEAD) through Starlette. The hot routes skip the framework's router,
    request and response objects and middleware stack: a Starlette hello-world costs a
    third more CPU per request than a bare ASGI one, and a refused request is mostly that
    overhead. Whatever escapes the pipeline gets the same error body as through Starlette."""

    def __init__(self, app: Starlette, gateway: Gateway) -> None:
        self.app, self.gateway, self.state = app, gateway, app.state
        self.table = {(s.path, s.method): s for s in gateway.routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = self.table.get((scope["path"], scope["method"])) \
            if scope["type"] == "http" and not scope.get("root_path") else None
        if spec is None:
            await self.app(scope, receive, send)
            return
        try:
            answer = await self.gateway.handle(scope, receive, spec)
        except Exception as exc:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            answer = internal_error(self.gateway, scope["path"], exc, headers)
        await answer.send(send)


def app_from_env() -> ApiRoutes:
    return create_app(os.environ.get("VVTV_ROOT"), freeze=True)
