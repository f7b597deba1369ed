"""Epic N's public API over the LLM pool: pool-api (HMAC, JWT, mTLS; tenants, nonces, rate
limits, quotas, usage), the nginx gateway profile and the supervisor behind ``vvtvctl api``.

Layer: imports core, vault, media, station, guardian and pool; never ritual, revival,
hibernation, ops, drills or cli. The request path is a pipeline (``pipeline.py``): stages
then observers, so the audit log and metrics slot in without touching the routes.
"""

from .config import ApiConfig, ApiLayout, load_api_config
from .errors import (
    ApiError,
    AuthFailed,
    BodyTooLarge,
    Forbidden,
    NonceReplay,
    QuotaExceeded,
    RateLimited,
)
from .limits import Decision, LimitStore, MemoryStore, RedisStore, Reservation, open_store
from .pipeline import Call, status_for
from .tenants import Credentials, Tenant, TenantStore, UsageEvent

__all__ = [
    "ApiConfig", "ApiError", "ApiLayout", "AuthFailed", "BodyTooLarge", "Call", "Credentials",
    "Decision", "Forbidden", "LimitStore", "MemoryStore", "NonceReplay", "QuotaExceeded",
    "RateLimited", "RedisStore", "Reservation", "Tenant", "TenantStore", "UsageEvent",
    "load_api_config", "open_store", "status_for",
]
