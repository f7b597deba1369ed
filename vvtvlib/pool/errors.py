"""The pool's errors, part of the lab's one tree (``vvtvlib.core.errors``).

    VVTVError
    ├── PoolError (mixin: ``code``, ``http_status``)
    ├── ProviderFailed      CheckFailed        exit 1   502 PROVIDER_FAILED
    ├── DeadlineExceeded    TimedOut           exit 4   504 DEADLINE_EXCEEDED
    ├── NotReady            DependencyMissing  exit 3   503 NOT_READY
    └── SchemaInvalid       UsageError         exit 2   422 SCHEMA_INVALID

A provider's own errors (transport, bad JSON, a non-2xx status, invalid content) are translated
at the adapter boundary into ``ProviderFailed`` with a ``reason``; callers see only these.
"""

from __future__ import annotations

from vvtvlib.core.errors import CheckFailed, DependencyMissing, TimedOut, UsageError, VVTVError


class PoolError(VVTVError):
    """Mixin base: every pool error names its API code and HTTP status."""

    code = "PROVIDER_FAILED"
    http_status = 502


class ProviderFailed(PoolError, CheckFailed):
    """One provider (or every provider tried) failed: down, error, timeout, invalid output."""

    code = "PROVIDER_FAILED"
    http_status = 502

    @property
    def reason(self) -> str:
        return str(self.context.get("reason", "error"))


class DeadlineExceeded(PoolError, TimedOut):
    code = "DEADLINE_EXCEEDED"
    http_status = 504


class NotReady(PoolError, DependencyMissing):
    code = "NOT_READY"
    http_status = 503


class Drained(NotReady):
    """``vvtvctl ops drain --service pool``: new requests are refused (503, ``DRAINED``)
    unless ``drain.pool_fallback`` gives an answer; requests in flight finish."""

    code = "DRAINED"
    http_status = 503


class SchemaInvalid(PoolError, UsageError):
    code = "SCHEMA_INVALID"
    http_status = 422


__all__ = ["DeadlineExceeded", "NotReady", "PoolError", "ProviderFailed", "SchemaInvalid"]
