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
``SchemaInvalid``, ``Drained``) are used as they are.

``ERROR_CODES`` is the one list of what an error body's ``error`` can say: the contract's
nine codes, then four extensions for cases the seed does not cover (an operator's drain, an
unknown route or method, an unexpected error). The README's table, ``docs/openapi.json`` and
a test that collects every code pool-api and the gateway can emit are checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vvtvlib.core.errors import CheckFailed, DependencyMissing, UsageError, VVTVError


@dataclass(frozen=True)
class ErrorCode:
    code: str
    statuses: tuple[int, ...]
    when: str  # one sentence for the docs
    extension: bool = False  # not one of the contract's nine: a case the seed does not cover


NOT_FOUND, METHOD_NOT_ALLOWED, INTERNAL_ERROR = "NOT_FOUND", "METHOD_NOT_ALLOWED", \
    "INTERNAL_ERROR"
SCHEMA_INVALID = "SCHEMA_INVALID"

# The messages of the answers both profiles give before any route runs (pool-api's fallback
# and HTTP protocol, the gateway's own refusals): the same words from either.
BAD_REQUEST_MESSAGE = "the server could not read this HTTP request."
NOT_FOUND_MESSAGE = "no such route."
METHOD_NOT_ALLOWED_MESSAGE = "the route does not take this method."

# The methods HTTP defines (RFC 9110, and PATCH): another one, even one the parser knows
# (WebDAV's PROPFIND...), is a request the API cannot read (400), in both profiles. TRACE and
# CONNECT are never served: 405 on every path, as nginx answers them.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                          "TRACE", "PATCH"})
NEVER_SERVED = frozenset({"TRACE", "CONNECT"})


def allow_for(method: str) -> str:
    """The ``Allow`` of a 405 on a route that takes ``method`` (GET brings HEAD)."""
    return "GET, HEAD" if method == "GET" else method


ERROR_CODES: tuple[ErrorCode, ...] = (
    ErrorCode("AUTH_FAILED", (401, 403), "401: no or bad credentials (key, timestamp, nonce "
              "format, signature, JWT, client certificate); 403: tenant suspended, scope not "
              "allowed, another tenant's usage, refused by the gateway (WAF, foreign CA)"),
    ErrorCode("NONCE_REPLAY", (409,), "the nonce was used in the last 10 minutes"),
    ErrorCode("BODY_TOO_LARGE", (413,), "the body is over 1 MiB (checked first)"),
    ErrorCode(SCHEMA_INVALID, (422, 400), "422: the body or query does not match the "
              "route's schema; 400: the gateway or pool-api cannot read the HTTP request "
              "(malformed, a method HTTP does not define, URI or headers too large)"),
    ErrorCode("QUOTA_EXCEEDED", (402,), "the plan's monthly requests or tokens are used up"),
    ErrorCode("RATE_LIMITED", (429,), "the tenant's bucket (or the gateway's limit per IP) is "
              "empty; Retry-After says when to retry"),
    ErrorCode("PROVIDER_FAILED", (502,), "every provider tried failed, or the gateway got no "
              "answer from pool-api"),
    ErrorCode("NOT_READY", (503,), "no provider is healthy, or the limits backend does not "
              "answer"),
    ErrorCode("DEADLINE_EXCEEDED", (504,), "hints.deadline_ms passed"),
    ErrorCode("DRAINED", (503,), "an operator drained the API or the pool for maintenance "
              "(vvtvctl ops drain); retry later", extension=True),
    ErrorCode(NOT_FOUND, (404,), "no such route (the gateway routes /v1/ only)",
              extension=True),
    ErrorCode(METHOD_NOT_ALLOWED, (405,), "the route does not take this method (Allow names "
              "the one it takes)", extension=True),
    ErrorCode(INTERNAL_ERROR, (500,), "an unexpected error; the body has no detail, "
              "api_error.log has one line with the request_id", extension=True),
)


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


__all__ = ["BAD_REQUEST_MESSAGE", "ERROR_CODES", "HTTP_METHODS", "INTERNAL_ERROR",
           "METHOD_NOT_ALLOWED", "METHOD_NOT_ALLOWED_MESSAGE", "NEVER_SERVED", "NOT_FOUND",
           "NOT_FOUND_MESSAGE", "SCHEMA_INVALID", "ApiError",
           "AuthFailed", "BodyTooLarge", "ErrorCode", "Forbidden", "LimitsUnavailable",
           "NonceReplay", "QuotaExceeded", "RateLimited", "allow_for"]
