"""The pool's Prometheus metrics (SPEC section 5), registered once per process.

``llmpool_infer_duration_ms{provider,task}`` (histogram), ``llmpool_timeouts_total{provider,
task}``, ``llmpool_breaker_open_total{provider}``, ``llmpool_cache_hits_total{task}``,
``llmpool_cache_misses_total{task}``, ``llmpool_hedges_total{task}``,
``llmpool_provider_errors_total{provider,task,reason}``,
``llmpool_requests_total{task,strategy,outcome}``. With ``PROMETHEUS_MULTIPROC_DIR`` set,
prometheus-client shares them across worker processes.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 750, 1000, 1500, 2500, 5000, 10000)


class PoolMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.infer_duration_ms = Histogram(
            "llmpool_infer_duration_ms", "Provider call duration (ms) by provider and task",
            ["provider", "task"], buckets=BUCKETS_MS, registry=r)
        self.timeouts = Counter("llmpool_timeouts_total",
                                "Provider calls that timed out or hit the deadline",
                                ["provider", "task"], registry=r)
        self.breaker_open = Counter("llmpool_breaker_open_total",
                                    "Times a provider's breaker opened", ["provider"], registry=r)
        self.cache_hits = Counter("llmpool_cache_hits_total", "Answers served from the cache",
                                  ["task"], registry=r)
        self.cache_misses = Counter("llmpool_cache_misses_total", "Cache look-ups that missed",
                                    ["task"], registry=r)
        self.hedges = Counter("llmpool_hedges_total", "Hedged calls started by FASTEST",
                              ["task"], registry=r)
        self.provider_errors = Counter("llmpool_provider_errors_total",
                                       "Failed provider calls by reason",
                                       ["provider", "task", "reason"], registry=r)
        self.requests = Counter("llmpool_requests_total", "Pool requests by outcome",
                                ["task", "strategy", "outcome"], registry=r)


@cache
def default_metrics() -> PoolMetrics:
    return PoolMetrics()
