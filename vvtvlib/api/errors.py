"""The public API's errors, part of the lab's one tree (``vvtvlib.core.errors``).

    VVTVError
    ├── ApiError (mixin: ``code``; the HTTP status is chosen in ``app.status_for`` only)
    ├── AuthFailed        CheckFailed   AUTH_FAILED      (401: who are you?)
    ├── Forbidden         CheckFailed   AUTH_FAILED      (403: known, but not allowed)
    ├── NonceReplay       CheckFailed   NONCE_REPLAY
    ├── BodyTooLarge      UsageError    BODY_TOO_LARGE
    ├── RateLimited       CheckFailed   RATE_LIMITED     (``retry_after_s``)
    ├── QuotaExceeded     CheckFailed   QUOTA_EXCEEDED
    └── LimitsUnavailable DependencyMissing NOT_READY (the limits backend does not answer)
The pool's own errors (``ProviderFailed``, ``DeadlineExceeded``, ``NotReady``,
``SchemaInvalid``) are used as they are.
"""

from __future__ import annotations

from vvtvlib.core.errors import CheckFailed, DependencyMissing, UsageError, VVTVError


class ApiError(VVTVError):
    code = "AUTH_FAILED"


class AuthFailed(ApiError, CheckFailed):
    code = "AUTH_FAILED"


class Forbidden(ApiError, CheckFailed):
    code = "AUTH_FAILED"


class NonceReplay(ApiError, CheckFailed):
    code = "NONCE_REPLAY"


class BodyTooLarge(ApiError, UsageError):
    code = "BODY_TOO_LARGE"


class RateLimited(ApiError, CheckFailed):
    code = "RATE_LIMITED"

    @property
    def retry_after_s(self) -> int:
        return max(1, int(self.context.get("retry_after_s", 1)))


class QuotaExceeded(ApiError, CheckFailed):
    code = "QUOTA_EXCEEDED"


class LimitsUnavailable(ApiError, DependencyMissing):
    code = "NOT_READY"


__all__ = ["ApiError", "AuthFailed", "BodyTooLarge", "Forbidden", "LimitsUnavailable",
           "NonceReplay", "QuotaExceeded", "RateLimited"]
