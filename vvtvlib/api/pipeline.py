"""The request path as a pipeline: one ``Call`` travels a list of stages, then observers.

    body limit (413) -> authenticate (401, nonce 409) -> admit: tenant and scope (403)
    -> rate limit (429) -> quota (402) -> the route (schema 422, pool 502/503/504)
    -> observers (settle the quota, usage events, the audit log, metrics, the access log)

A stage is ``async def stage(call) -> None`` and raises an error of the one tree to stop
the call; an observer is ``def observer(call) -> None`` and runs for every finished call,
rejected ones included. Domain code never knows HTTP statuses: ``status_for`` maps errors
in one place.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from vvtvlib.core.errors import VVTVError
from vvtvlib.core.trace import TraceContext
from vvtvlib.pool import DeadlineExceeded, NotReady, ProviderFailed, SchemaInvalid

from .errors import (
    INTERNAL_ERROR,
    AuthFailed,
    BodyTooLarge,
    Forbidden,
    LimitsUnavailable,
    NonceReplay,
    QuotaExceeded,
    RateLimited,
)
from .tenants import Tenant


@dataclass
class Call:
    """One request as it travels the pipeline, and what the observers are told."""

    request_id: str
    method: str
    target: bytes  # the raw request target: path plus ``?query`` as sent
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client_ip: str
    at_ms: int
    route: str = ""
    request: Any = field(default=None, repr=False)  # the ASGI ``receive`` (the body stream)
    weight: float = 0.0
    scope: str | None = None
    quota: bool = False
    started: float = field(default_factory=time.perf_counter)
    tenant: Tenant | None = None
    auth: str | None = None  # hmac | jwt | mtls
    key_id: str | None = None
    status: int = 0
    code: str | None = None
    task: str | None = None
    strategy: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    provider: str | None = None
    from_cache: bool = False
    hedge: bool = False
    bytes_out: int = 0
    reserved: dict[str, int] = field(default_factory=dict)  # quota counter key -> amount
    tpm_reserved: int = 0  # tokens taken from the tokens-per-minute bucket at admission
    response_headers: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)  # quota warnings, rotations
    trace: TraceContext | None = None  # the W3C trace this request's work belongs to

    @property
    def duration_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    @property
    def tenant_id(self) -> str | None:
        return self.tenant.id if self.tenant else None


Stage = Callable[[Call], Awaitable[None]]
Observer = Callable[[Call], None]

STATUS: list[tuple[type[Exception], int]] = [
    (BodyTooLarge, 413), (AuthFailed, 401), (Forbidden, 403), (NonceReplay, 409),
    (RateLimited, 429), (QuotaExceeded, 402), (SchemaInvalid, 422), (ProviderFailed, 502),
    (NotReady, 503), (LimitsUnavailable, 503), (DeadlineExceeded, 504),
]


def status_for(exc: BaseException) -> tuple[int, str]:
    """The one place errors become HTTP statuses and API codes."""
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status, str(getattr(exc, "code", INTERNAL_ERROR))
    return 500, INTERNAL_ERROR


def public_message(exc: BaseException) -> str:
    """One sentence for the client: our own errors' messages; never an internal detail."""
    if isinstance(exc, VVTVError) and status_for(exc)[0] != 500:
        msg = exc.message.splitlines()[0] if exc.message else ""
        return msg[:300] if msg else "the request was refused"
    return "an internal error occurred; quote the request_id when reporting it"
