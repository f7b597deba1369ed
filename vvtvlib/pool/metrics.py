"""The pool's Prometheus metrics (SPEC section 5), registered once per process.

``llmpool_infer_duration_ms{provider,task}`` (histogram), ``llmpool_timeouts_total{provider,
task}``, ``llmpool_breaker_open_total{provider}``, ``llmpool_cache_hits_total{task}``,
``llmpool_cache_misses_total{task}``, ``llmpool_hedges_total{task}``,
``llmpool_provider_errors_total{provider,task,reason}``,
``llmpool_requests_total{task,strategy,outcome}``. With ``PROMETHEUS_MULTIPROC_DIR`` set,
prometheus-client shares them across worker processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry

from vvtvlib.core import metric_names as mn

# Outcomes of a failed request created at 0 (``type(exc).__name__`` of the pool's 5xx errors).
FAILURE_OUTCOMES = ("ProviderFailed", "DeadlineExceeded", "NotReady")

# The SLO thresholds (1200 ms warm p95) and the alert threshold (1500 ms) are boundaries.
BUCKETS_MS = mn.LATENCY_BUCKETS_MS


class PoolMetrics:
    """Registered under the names declared in ``vvtvlib.core.metric_names`` (the names the
    SLO catalog, the alert rules and the dashboards query)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.infer_duration_ms = mn.Labelled(mn.histogram(mn.LLMPOOL_INFER_DURATION, r))
        self.timeouts = mn.Labelled(mn.counter(mn.LLMPOOL_TIMEOUTS, r))
        self.breaker_open = mn.Labelled(mn.counter(mn.LLMPOOL_BREAKER_OPEN, r))
        self.cache_hits = mn.Labelled(mn.counter(mn.LLMPOOL_CACHE_HITS, r))
        self.cache_misses = mn.Labelled(mn.counter(mn.LLMPOOL_CACHE_MISSES, r))
        self.hedges = mn.Labelled(mn.counter(mn.LLMPOOL_HEDGES, r))
        self.provider_errors = mn.Labelled(mn.counter(mn.LLMPOOL_PROVIDER_ERRORS, r))
        self.requests = mn.Labelled(mn.counter(mn.LLMPOOL_REQUESTS, r))

    def prime(self, providers: Iterable[str], tasks: Iterable[str],
              strategies: Iterable[str]) -> None:
        """Create the known label sets at 0, so that an error ratio, a dashboard panel or an
        alert reads 0 rather than "no data" before the first error of its kind. The label
        values are the configured providers, the tasks and the strategies: bounded."""
        tasks, strategies = tuple(tasks), tuple(strategies)
        for task in tasks:
            self.cache_hits.labels(task)
            self.cache_misses.labels(task)
            self.hedges.labels(task)
            for strategy in strategies:
                for outcome in FAILURE_OUTCOMES:
                    self.requests.labels(task, strategy, outcome)
        for provider in providers:
            self.breaker_open.labels(provider)
            for task in tasks:
                self.timeouts.labels(provider, task)


@cache
def default_metrics() -> PoolMetrics:
    return PoolMetrics()
