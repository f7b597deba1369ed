"""W3C Trace Context (``traceparent``) for the lab's services, and the current span.

``traceparent: 00-<trace-id 32 hex>-<parent-id 16 hex>-<flags 2 hex>``. A service that
receives a request parses the header (``parse_traceparent``), opens a child span
(``ctx.child()``) for its own work, logs inside ``use_trace(child)`` (the core logger then
writes that ``trace_id`` and ``span_id``), and sends ``child.header()`` to the next hop,
so API -> pool -> provider share one trace id. Invalid headers are ignored (a new trace
starts), as the W3C specification requires.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

HEADER = "traceparent"
_RANDOM = random.Random()  # seeded from the OS at import; re-seeded in forked children
os.register_at_fork(after_in_child=_RANDOM.seed)
_PATTERN = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    sampled: bool = True

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def child(self) -> TraceContext:
        """A new span in the same trace (its parent is this one)."""
        return TraceContext(self.trace_id, _nonzero(8), self.sampled)


def _nonzero(nbytes: int) -> str:
    """Random ids as OpenTelemetry's SDK makes them (``random.getrandbits``): unique, not
    secret, so without a system call per id on the request path."""
    while True:
        value = _RANDOM.getrandbits(nbytes * 8)
        if value:
            return f"{value:0{nbytes * 2}x}"


def new_trace(sampled: bool = True) -> TraceContext:
    return TraceContext(_nonzero(16), _nonzero(8), sampled)


def parse_traceparent(value: str | None) -> TraceContext | None:
    """The context a ``traceparent`` header carries, or None when it is absent or invalid."""
    if not value:
        return None
    m = _PATTERN.match(value.strip())
    if not m:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest) or not trace_id.strip("0") \
            or not span_id.strip("0"):
        return None
    return TraceContext(trace_id, span_id, bool(int(flags, 16) & 1))


def continue_or_start(value: str | None) -> TraceContext:
    """The child span of an incoming ``traceparent``, or a new trace."""
    parent = parse_traceparent(value)
    return parent.child() if parent else new_trace()


_CURRENT: ContextVar[TraceContext | None] = ContextVar("vvtv_trace", default=None)


def current_trace() -> TraceContext | None:
    return _CURRENT.get()


@contextlib.contextmanager
def use_trace(ctx: TraceContext) -> Iterator[TraceContext]:
    """Log lines written inside carry ``ctx``'s trace and span ids."""
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
