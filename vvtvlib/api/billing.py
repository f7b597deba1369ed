"""The billing webhook: one signed ``POST <billing_url>/billing/usage`` per tenant-day, and
the receiver that checks and keeps them (``vvtvctl usage receiver``).

Signature, Stripe-style: ``X-VVTV-Signature: t=<epoch s>,v1=<hex HMAC-SHA256(secret,
"<t>." + body)>`` with the secret in ``vault/keys/billing_webhook.key`` (0600, made on first
use). ``Idempotency-Key: usage:<tenant_id>:<day>``: the receiver keeps the first delivery of
a key and answers later ones ``200 {"status": "duplicate"}``, so a retry after a lost answer
never bills twice. The sender retries a failed attempt (connection refused, timeout, 5xx)
with exponential backoff and full jitter (``random() * min(cap, base * 2**n)``), up to
``max_attempts``; every attempt is a ``webhook_delivery`` line in the audit chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vvtvlib.core.errors import SignatureError, UsageError
from vvtvlib.core.fsio import atomic_write

from .audit import tenant_event
from .config import ApiLayout, BillingSettings, load_api_config
from .rollup import TenantDay

SIGNATURE_HEADER = "X-VVTV-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PATH = "/billing/usage"


class SignatureRefused(SignatureError):
    """A webhook signature that is missing, malformed, stale or wrong."""


def billing_secret(root: str | Path | None, *, create: bool = True) -> bytes:
    path = ApiLayout(root).billing_key
    if not path.exists():
        if not create:
            raise UsageError(f"no billing webhook secret at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, secrets.token_hex(32) + "\n", mode=0o600)
    return path.read_text().strip().encode()


def sign(secret: bytes, ts: int, body: bytes) -> str:
    mac = hmac.new(secret, str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify(secret: bytes, header: str | None, body: bytes, *, now_s: float,
           tolerance_s: int = 300) -> int:
    """The signed timestamp, or :class:`SignatureRefused` (one sentence why)."""
    if not header:
        raise SignatureRefused(f"no {SIGNATURE_HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        parts.setdefault(k, []).append(v)
    ts_text = (parts.get("t") or [""])[0]
    if not ts_text.isdigit():
        raise SignatureRefused("the signature has no t=<epoch seconds>")
    ts = int(ts_text)
    if abs(now_s - ts) > tolerance_s:
        raise SignatureRefused(f"the signature's timestamp is more than {tolerance_s} s away")
    expected = sign(secret, ts, body).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected.encode(), v.encode())
               for v in parts.get("v1", [])):
        raise SignatureRefused("the signature does not match")
    return ts


def body_for(row: TenantDay) -> bytes:
    return json.dumps({"type": "usage.daily", **row.to_dict()}, sort_keys=True,
                      separators=(",", ":")).encode()


def idempotency_key(row: TenantDay) -> str:
    return f"usage:{row.tenant_id}:{row.day}"


@dataclass(frozen=True)
class Delivery:
    tenant_id: str
    day: str
    idempotency_key: str
    attempts: int
    delivered: bool
    status: int | None
    outcome: str  # stored | duplicate | failed

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def backoff_s(attempt: int, settings: BillingSettings, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.random() * min(settings.backoff_cap_s, settings.backoff_base_s * 2 ** attempt)


def deliver(root: str | Path | None, rows: list[TenantDay], url: str, *,
            settings: BillingSettings | None = None,
            sleep: Callable[[float], None] = time.sleep,
            rng: random.Random | None = None, timeout_s: float = 5.0,
            on_delivered: Callable[[Delivery], None] | None = None) -> list[Delivery]:
    """POST each tenant-day; retry each until it is answered 2xx or the attempts run out."""
    if not url:
        raise UsageError("no billing URL: pass --billing-url or set [billing] url in api.toml")
    settings = settings or load_api_config(root).billing
    secret = billing_secret(root)
    audit_path = ApiLayout(root).audit_log
    rng = rng or random.Random()
    out = []
    with httpx.Client(timeout=timeout_s) as http:
        for row in rows:
            key = idempotency_key(row)

            def audit(attempt: int, status: int | None, error: str | None, outcome: str,
                      row: TenantDay = row, key: str = key) -> None:
                tenant_event(audit_path, "webhook_delivery", row.tenant_id, actor="vvtvctl",
                             day=row.day, idempotency_key=key, attempt=attempt, status=status,
                             error=error, outcome=outcome)
            attempt, status, outcome = post_signed(http, url, secret, body_for(row), key,
                                                   settings, sleep=sleep, rng=rng,
                                                   on_attempt=audit)
            done = Delivery(row.tenant_id, row.day, key, attempt, outcome != "failed", status,
                            outcome)
            out.append(done)
            if on_delivered is not None:
                on_delivered(done)
    return out


def post_signed(http: httpx.Client, url: str, secret: bytes, body: bytes, key: str,
                settings: BillingSettings, *, sleep: Callable[[float], None] = time.sleep,
                rng: random.Random | None = None,
                on_attempt: Callable[[int, int | None, str | None, str], None] | None = None,
                ) -> tuple[int, int | None, str]:
    """One signed event, ``POST <url>/billing/usage``, retried with backoff and full jitter
    until it is answered 2xx, refused for good (4xx but 429) or the attempts run out.
    ``on_attempt(attempt, status, error, outcome)`` is told each attempt (outcome: stored,
    duplicate, retry or failed). Returns (attempts, last status, outcome)."""
    rng = rng or random.Random()
    status: int | None = None
    outcome = "failed"
    attempt = 0
    for attempt in range(1, settings.max_attempts + 1):
        ts = int(time.time())
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key,
                   SIGNATURE_HEADER: sign(secret, ts, body)}
        error = None
        try:
            r = http.post(url.rstrip("/") + PATH, content=body, headers=headers)
            status = r.status_code
            if 200 <= status < 300:
                outcome = str(r.json().get("status", "stored"))
        except (httpx.HTTPError, ValueError) as exc:
            status, error = None, type(exc).__name__
        final = status is not None and 400 <= status < 500 and status != 429
        if on_attempt is not None:
            on_attempt(attempt, status, error, outcome if outcome != "failed" else
                       ("retry" if attempt < settings.max_attempts and not final
                        else "failed"))
        if outcome != "failed" or final:  # refused for good: retrying will not help
            break
        if attempt < settings.max_attempts:
            sleep(backoff_s(attempt - 1, settings, rng))
    return attempt, status, outcome


# -- the receiver ------------------------------------------------------------------------------
class Receiver:
    """Checks signatures and timestamps; keeps each idempotency key once (SQLite, WAL)."""

    def __init__(self, db: str | Path, secret: bytes, *, tolerance_s: int = 300) -> None:
        self.db = Path(db)
        self.db.parent.mkdir(parents=True, exist_ok=True)
        self.secret, self.tolerance_s = secret, tolerance_s
        con = self._con()
        con.execute("CREATE TABLE IF NOT EXISTS deliveries(idempotency_key TEXT PRIMARY KEY,"
                    " tenant_id TEXT, day TEXT, body TEXT, received_at REAL)")
        con.close()

    def _con(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        return con

    def receive(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            verify(self.secret, headers.get(SIGNATURE_HEADER.lower()), body,
                   now_s=time.time(), tolerance_s=self.tolerance_s)
        except SignatureRefused as exc:
            return 400, {"error": "SIGNATURE_REFUSED", "message": exc.message}
        key = headers.get(IDEMPOTENCY_HEADER.lower(), "")
        try:
            doc = json.loads(body)
        except ValueError:
            return 400, {"error": "SCHEMA_INVALID", "message": "the body is not JSON"}
        if not key or not isinstance(doc, dict):
            return 400, {"error": "SCHEMA_INVALID", "message": "no Idempotency-Key or body"}
        con = self._con()
        try:
            cur = con.execute("INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?, ?)",
                              (key, doc.get("tenant_id"), doc.get("day"), body.decode(),
                               time.time()))
            stored = cur.rowcount == 1
        finally:
            con.close()
        return 200, {"status": "stored" if stored else "duplicate", "idempotency_key": key}

    def rows(self) -> list[dict[str, Any]]:
        con = self._con()
        try:
            return [{"idempotency_key": k, "tenant_id": t, "day": d, "body": json.loads(b)}
                    for k, t, d, b in con.execute(
                        "SELECT idempotency_key, tenant_id, day, body FROM deliveries"
                        " ORDER BY idempotency_key")]
        finally:
            con.close()


def receiver_app(receiver: Receiver) -> Any:
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def usage(request: Request) -> Response:
        import asyncio

        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, doc = await asyncio.to_thread(receiver.receive, headers, body)
        return Response(orjson.dumps(doc), status, media_type="application/json")

    async def listing(request: Request) -> Response:
        import asyncio

        rows = await asyncio.to_thread(receiver.rows)
        return Response(orjson.dumps(rows), 200, media_type="application/json")

    return Starlette(routes=[Route(PATH, usage, methods=["POST"]),
                             Route(PATH, listing, methods=["GET"])])


def serve_receiver(root: str | Path | None, host: str, port: int) -> None:
    import uvicorn

    lay = ApiLayout(root)
    cfg = load_api_config(root).billing
    rec = Receiver(lay.receiver_db, billing_secret(root), tolerance_s=cfg.tolerance_s)
    uvicorn.run(receiver_app(rec), host=host, port=port, log_level="warning",
                access_log=False)
