"""Quota warnings as billing webhook events (SPEC: "warnings at 80 % and 90 % (response
header, audit event, webhook event)").

The pipeline observer ``observe`` sees a call whose quota reservation crossed 80 % or 90 %
(``X-Quota-Warning``); the first such call of a tenant, month and level, across every worker
(a once-gate in the limits backend, kept 40 days), queues one event:

    {"type": "quota.warning", "tenant_id": ..., "month": "2026-11", "level": 80,
     "used": 0.8, "request_id": ..., "at": "2026-11-30T06:00:00.123Z"}

A thread posts it off the request path to ``[billing] url`` + ``/billing/usage``, signed
like the usage rollups (``X-VVTV-Signature``), with ``Idempotency-Key:
quota:<tenant_id>:<month>:<level>`` and the same retries; each attempt is a
``webhook_delivery`` line in the audit chain. Without a billing URL nothing is sent (the
header and the audit event remain).
"""

from __future__ import annotations

import json
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from vvtvlib.core.clock import utc_iso

from .billing import billing_secret, post_signed
from .config import BillingSettings
from .limits import LimitStore
from .pipeline import Call

GATE_TTL_MS = 40 * 86400 * 1000


@dataclass(frozen=True)
class QuotaWarning:
    tenant_id: str
    month: str
    level: int
    used: float
    request_id: str
    at: str

    @property
    def idempotency_key(self) -> str:
        return f"quota:{self.tenant_id}:{self.month}:{self.level}"

    def body(self) -> bytes:
        return json.dumps({"type": "quota.warning", **asdict(self)}, sort_keys=True,
                          separators=(",", ":")).encode()


class QuotaWebhook:
    def __init__(self, root: str | Path, settings: BillingSettings, limits: LimitStore,
                 audit: Callable[[QuotaWarning, int, int | None, str | None, str], None],
                 *, timeout_s: float = 5.0) -> None:
        self.root, self.settings, self.limits, self.audit = root, settings, limits, audit
        self.timeout_s = timeout_s
        self._queue: queue.Queue[QuotaWarning | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.sent: list[tuple[QuotaWarning, str]] = []  # (event, outcome), for the tests

    @property
    def enabled(self) -> bool:
        return bool(self.settings.url)

    def observe(self, call: Call) -> None:
        """The pipeline observer: queue the first warning of a tenant, month and level."""
        if not call.events or call.tenant is None or not self.enabled:
            return
        for e in call.events:
            level = e.get("quota_warning")
            if not level:
                continue
            month = datetime.fromtimestamp(call.at_ms / 1000, UTC).strftime("%Y-%m")
            if self.limits.once(f"qwarn:{call.tenant.id}:{month}:{level}", GATE_TTL_MS):
                self._queue.put(QuotaWarning(
                    call.tenant.id, month, int(level), float(e.get("used", 0.0)),
                    call.request_id, utc_iso(datetime.fromtimestamp(call.at_ms / 1000, UTC))))

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="quota-webhook",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        secret = billing_secret(self.root)
        rng = random.Random()
        with httpx.Client(timeout=self.timeout_s) as http:
            while True:
                ev = self._queue.get()
                if ev is None:
                    return

                def told(attempt: int, status: int | None, error: str | None, outcome: str,
                         ev: QuotaWarning = ev) -> None:
                    self.audit(ev, attempt, status, error, outcome)
                _, _, outcome = post_signed(http, self.settings.url, secret, ev.body(),
                                            ev.idempotency_key, self.settings, rng=rng,
                                            on_attempt=told)
                self.sent.append((ev, outcome))

    def pending(self) -> int:
        return self._queue.qsize()


def audit_line(ev: QuotaWarning, attempt: int, status: int | None, error: str | None,
               outcome: str) -> dict[str, Any]:
    """The ``webhook_delivery`` details of one attempt (no body, no signature)."""
    return {"type": "quota.warning", "month": ev.month, "level": ev.level,
            "idempotency_key": ev.idempotency_key, "attempt": attempt, "status": status,
            "error": error, "outcome": outcome}
