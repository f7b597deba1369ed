"""One structured JSONL logger (structlog) with the lab's fields:
``ts``, ``service``, ``severity``, ``msg``, ``trace_id``, ``span_id``.

``trace_id``/``span_id`` come from the call (``log.info(..., trace_id=...)``), else from the
current W3C trace context (``core.trace.use_trace``), else the process's own trace with a
fresh span id per line."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import IO, Any, TextIO, cast

import structlog

from .clock import utc_iso
from .trace import current_trace

_SECRET_KEYS = ("secret", "password", "token", "private_key", "hmac")


def _rename(_: Any, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    ctx = current_trace()
    out = {"ts": utc_iso(), "service": event.pop("service", "vvtv"),
           "severity": method.upper() if method != "warn" else "WARNING",
           "msg": event.pop("event", ""),
           "trace_id": event.pop("trace_id", None) or (ctx.trace_id if ctx else _trace_id()),
           "span_id": event.pop("span_id", None) or (ctx.span_id if ctx
                                                     else secrets.token_hex(8))}
    for key, value in event.items():
        out[key] = "[redacted]" if any(s in key.lower() for s in _SECRET_KEYS) else value
    return out


_TRACE = os.environ.get("VVTV_TRACE_ID") or secrets.token_hex(16)


def _trace_id() -> str:
    return _TRACE


def get_logger(service: str, stream: IO[str] | None = None, path: str | Path | None = None
               ) -> structlog.BoundLogger:
    """A logger writing one JSON object per line to ``path`` (0600) or ``stream`` (stderr)."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        stream = os.fdopen(fd, "a", buffering=1)
    logger = structlog.wrap_logger(
        structlog.PrintLogger(cast(TextIO, stream or sys.stderr)),
        processors=[_rename, structlog.processors.JSONRenderer(sort_keys=False)],
    )
    return logger.bind(service=service)
