"""The API's audit trail: ``logs/audit/api_requests.jsonl``, one line per request (refused
ones included) and one per tenant event, hash-chained by the core evidence log.

A request line holds the seed's fields and nothing else a client sent::

    {"kind": "request", "ts", "request_id", "tenant_id", "route", "task", "strategy",
     "status", "code", "duration_ms", "tokens_in", "tokens_out", "provider", "from_cache",
     "hedge", "ip", "auth", "events", "seq", "prev_sha256", "entry_sha256"}

never a payload, a content, a secret, a signature or a full IP (``ip`` is truncated to its
/24 or /48 network). A tenant event line is ``{"kind": "tenant_event", "event": create |
suspend | resume | limits | rotate | revoke | map_cert | quota_warning | webhook_delivery,
"tenant_id", "actor", ...}``.

Writing must not slow the request path: the observer only builds the record and appends it
to an in-memory buffer; a flusher writes the buffer every 0.2 s (or at 512 lines) with
``EvidenceLog.append_many`` (one lock, one fsync, one head anchor per batch). Workers in
several processes share the file through the evidence log's lock and tail check, so the
chain stays whole and no line is torn; the buffer is flushed on shutdown.
"""

from __future__ import annotations

import ipaddress
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.evidence import EvidenceLog

from .pipeline import Call

FLUSH_EVERY_S = 0.2
FLUSH_AT = 512
MAX_PENDING = 200_000  # kept while the log refuses appends (tampered), then the oldest go
EVENT_KEYS = {"quota_warning", "used", "key_rotated", "jwt_scopes"}


@lru_cache(maxsize=8192)
def truncate_ip(ip: str) -> str:
    """An IPv4 address's /24 network, an IPv6 address's /48 (``""`` for anything else).
    Cached: the audit and the access log ask twice per request, mostly for the same few
    clients (``ipaddress`` parsing is a large share of a rejection's cost otherwise)."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def key_fingerprint(public_key: str | None) -> str | None:
    """The short form of a public key id in audit lines (``vvtv-pub-abcd...wxyz``)."""
    if not public_key:
        return None
    return public_key if len(public_key) <= 16 else f"{public_key[:12]}...{public_key[-4:]}"


def request_record(call: Call, ts: str) -> dict[str, Any]:
    events = []
    for e in call.events:
        kept = {k: v for k, v in e.items() if k in EVENT_KEYS}
        if "key_rotated" in kept:
            kept["key_rotated"] = key_fingerprint(str(kept["key_rotated"]))
        if kept:
            events.append(kept)
    return {"kind": "request", "ts": ts, "request_id": call.request_id,
            "tenant_id": call.tenant_id, "route": call.path, "task": call.task,
            "strategy": call.strategy, "status": call.status, "code": call.code,
            "duration_ms": round(call.duration_ms, 3), "tokens_in": call.tokens_in,
            "tokens_out": call.tokens_out, "provider": call.provider,
            "from_cache": call.from_cache, "hedge": call.hedge,
            "ip": truncate_ip(call.client_ip), "auth": call.auth, "events": events}


def event_record(event: str, tenant_id: str | None, *, actor: str, ts: str,
                 **details: Any) -> dict[str, Any]:
    return {"kind": "tenant_event", "ts": ts, "event": event, "tenant_id": tenant_id,
            "actor": actor, **details}


class AuditWriter:
    """Buffered, batched appends to the audit evidence log (thread-safe)."""

    def __init__(self, path: str | Path, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.log = EvidenceLog(path, clock=clock, mode=0o600)
        self.clock = clock
        self._buf: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.written = 0
        self.dropped = 0  # lines given up after MAX_PENDING (reported with every failure)

    def now_iso(self) -> str:
        return utc_iso(self.clock.now())

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._buf.append(record)

    def observe(self, call: Call) -> None:
        """The pipeline observer: one line per finished call."""
        ts = utc_iso(self._at(call.at_ms))
        self.add(request_record(call, ts))
        for e in call.events:
            if "quota_warning" in e:
                self.add(event_record("quota_warning", call.tenant_id, actor="pool-api", ts=ts,
                                      level=e["quota_warning"], request_id=call.request_id))
            if "key_rotated" in e:
                self.add(event_record("rotate", call.tenant_id, actor="pool-api", ts=ts,
                                      new_key=key_fingerprint(str(e["key_rotated"])),
                                      request_id=call.request_id))

    def _at(self, at_ms: int) -> Any:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(at_ms / 1000, UTC)

    def pending(self) -> int:
        with self._lock:
            return len(self._buf)

    def flush(self) -> int:
        """Write what is buffered as one batch; on failure the lines stay buffered (bounded)
        and the error propagates."""
        with self._flush_lock:
            with self._lock:
                buf, self._buf = self._buf, []
            if not buf:
                return 0
            try:
                self.log.append_many(buf, keep_ts=True)
            except BaseException:
                with self._lock:
                    kept = buf + self._buf
                    self.dropped += max(0, len(kept) - MAX_PENDING)
                    self._buf = kept[-MAX_PENDING:]
                raise
            self.written += len(buf)
            return len(buf)


def tenant_event(audit_path: str | Path, event: str, tenant_id: str | None, *,
                 actor: str = "vvtvctl", clock: Clock = SYSTEM_CLOCK,
                 **details: Any) -> dict[str, Any]:
    """Append one tenant event (create, suspend, limits, rotate, revoke, webhook
    delivery...) to the audit chain at once."""
    log = EvidenceLog(audit_path, clock=clock, mode=0o600)
    return log.append(event_record(event, tenant_id, actor=actor, ts=utc_iso(clock.now()),
                                   **details))
