"""pool-api's Prometheus metrics (SPEC section 5) and its ``/metrics`` page.

``api_http_duration_ms{route,tenant_id}`` (histogram), ``api_requests_total{route,code}``,
``api_rate_limited_total{tenant_id}``, ``api_quota_exceeded_total{tenant_id}``; the pool's
``llmpool_*`` metrics live in the same process and are exported beside them. ``tenant_id``
is a known tenant's id or ``unknown`` (refused before a tenant was known), so the label's
cardinality is bounded by the tenant table. With ``PROMETHEUS_MULTIPROC_DIR`` set (``vvtvctl
api up`` points it at ``api/run/prometheus`` and empties it at start), every uvicorn
worker writes its samples there and ``/metrics`` sums them across workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)

from vvtvlib.core import metric_names as mn

from .pipeline import Call

UNKNOWN_TENANT = "unknown"
# Server-error codes created at 0 per route, so the 5xx ratio reads 0 rather than "no data".
SERVER_ERRORS = ("500", "502", "503", "504")


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.duration = mn.Labelled(mn.histogram(mn.API_HTTP_DURATION, registry))
        self.requests = mn.Labelled(mn.counter(mn.API_REQUESTS, registry))
        self.rate_limited = mn.Labelled(mn.counter(mn.API_RATE_LIMITED, registry))
        self.quota_exceeded = mn.Labelled(mn.counter(mn.API_QUOTA_EXCEEDED, registry))
        self._primed: set[str] = set()

    def prime(self, routes: Iterable[str], tenants: Iterable[str]) -> None:
        """Create the known label sets at 0: each route's server errors and each known
        tenant's 429 and 402 counters (bounded: routes x 4 codes, one series per tenant)."""
        for route in routes:
            for code in SERVER_ERRORS:
                self.requests.labels(route, code)
        for tenant in tenants:
            self._prime_tenant(tenant)

    def _prime_tenant(self, tenant: str) -> None:
        self.rate_limited.labels(tenant)
        self.quota_exceeded.labels(tenant)
        self._primed.add(tenant)

    def observe(self, call: Call) -> None:
        """The pipeline observer: every finished call, refused ones included."""
        tenant = call.tenant_id or UNKNOWN_TENANT
        if tenant not in self._primed:  # a tenant created while the API runs
            self._prime_tenant(tenant)
        route = call.path or "unmatched"
        self.duration.labels(route, tenant).observe(call.duration_ms)
        self.requests.labels(route, str(call.status)).inc()
        if call.status == 429:
            self.rate_limited.labels(tenant).inc()
        elif call.status == 402:
            self.quota_exceeded.labels(tenant).inc()


@cache
def default_metrics() -> ApiMetrics:
    return ApiMetrics()


def exposition() -> tuple[bytes, str]:
    """The ``/metrics`` body: the registry of this process, or, in multiprocess mode, the
    sum of every worker's samples."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
