"""Every Prometheus metric name the lab exports, in one place (the seed's names).

The station supervisor, the LLM pool and the public API register their metrics under these
names; the SLO catalog, the generated alert rules and the dashboards may only query names
declared here (a test checks it, and the live checks compare a running exporter's
``/metrics`` with the names its service declares). Histogram bucket boundaries live here
too, so an SLO threshold is always a bucket boundary (an exact SLI, never interpolated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class MetricName:
    name: str
    kind: Kind
    service: str
    labels: tuple[str, ...] = ()
    help: str = ""
    buckets: tuple[float, ...] = ()

    def series(self) -> tuple[str, ...]:
        """The sample names a scrape shows (``_total`` counters, ``_bucket`` histograms)."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum")
        return (self.name,)


def counter(m: MetricName, registry: CollectorRegistry) -> Counter:
    """The one way an exporter registers a declared counter."""
    return Counter(m.name, m.help, list(m.labels), registry=registry)


def gauge(m: MetricName, registry: CollectorRegistry) -> Gauge:
    return Gauge(m.name, m.help, list(m.labels), registry=registry)


def histogram(m: MetricName, registry: CollectorRegistry) -> Histogram:
    return Histogram(m.name, m.help, list(m.labels),
                     buckets=m.buckets or Histogram.DEFAULT_BUCKETS, registry=registry)


M = TypeVar("M", Counter, Gauge, Histogram)


class Labelled(Generic[M]):
    """A registered metric with its labelled children kept: after the first call,
    ``labels(*values)`` is one dict look-up (prometheus-client's own ``labels`` checks the
    values and takes a lock on every call). For the request path, where each request
    touches a few children; label values must be bounded, as for every metric here."""

    def __init__(self, metric: M) -> None:
        self.metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


# Milliseconds: the SLO thresholds (500 ms planner, 1200 ms infer) and the alert thresholds
# (1500 ms) are boundaries.
LATENCY_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 750, 1000, 1200, 1500,
                                         2500, 5000, 10000)

# ---------------------------------------------------------------- station (streaming, planner)
STREAM_SEGMENT_AGE = MetricName(
    "stream_segment_age_seconds", "gauge", "streaming",
    help="Age of the newest live HLS segment (seconds since it was written)")
STREAM_ENCODER_DROPS = MetricName(
    "stream_encoder_drops_total", "counter", "streaming",
    help="Frames the encoder dropped (FFmpeg -progress drop_frames)")
STREAM_ENCODER_DUPS = MetricName(
    "stream_encoder_dup_frames_total", "counter", "streaming",
    help="Frames the encoder duplicated (FFmpeg -progress dup_frames)")
STREAM_ENCODER_FRAMES = MetricName(
    "stream_encoder_frames_total", "counter", "streaming",
    help="Frames the encoder output (FFmpeg -progress frame)")
STREAM_SEGMENTS = MetricName(
    "stream_segments_total", "counter", "streaming",
    help="Live HLS segments published (as the playout tracker sees them)")
STREAM_SEGMENT_BYTES = MetricName(
    "stream_segment_bytes_total", "counter", "streaming",
    help="Bytes of the live HLS segments published (ingest bitrate = rate x 8)")
STREAM_ENCODER_RESTARTS = MetricName(
    "stream_encoder_restarts_total", "counter", "streaming",
    help="Times the supervisor restarted a crashed encoder")
STREAM_ENCODER_UP = MetricName(
    "stream_encoder_up", "gauge", "streaming", help="1 while the encoder process runs")
QUEUE_BUFFER = MetricName(
    "queue_buffer_duration_minutes", "gauge", "planner",
    help="Minutes of programming queued after the playing position")
PLANNER_CYCLE = MetricName(
    "planner_cycle_duration_ms", "histogram", "planner",
    help="Duration of the planner's selection cycle (ms)", buckets=LATENCY_BUCKETS_MS)
WORKER_IN_PROGRESS = MetricName(
    "station_worker_in_progress", "gauge", "planner", ("worker",),
    help="Jobs in progress per worker (planner, realizer, discovery)")
WORKER_JOBS = MetricName(
    "station_worker_jobs_total", "counter", "planner", ("worker", "status"),
    help="Worker jobs finished, by status (done, failed)")
CURATOR_DECISIONS = MetricName(
    "curator_decisions_total", "counter", "planner", ("decision",),
    help="Curator decisions, by decision (apply, advise)")
AUTOPILOT_ROLLBACKS = MetricName(
    "autopilot_rollbacks_total", "counter", "planner",
    help="Autopilot canary rollbacks")

# ---------------------------------------------------------------- LLM pool (SPEC section 5)
LLMPOOL_INFER_DURATION = MetricName(
    "llmpool_infer_duration_ms", "histogram", "pool", ("provider", "task"),
    help="Provider call duration (ms) by provider and task", buckets=LATENCY_BUCKETS_MS)
LLMPOOL_TIMEOUTS = MetricName(
    "llmpool_timeouts_total", "counter", "pool", ("provider", "task"),
    help="Provider calls that timed out or hit the deadline")
LLMPOOL_BREAKER_OPEN = MetricName(
    "llmpool_breaker_open_total", "counter", "pool", ("provider",),
    help="Times a provider's breaker opened")
LLMPOOL_CACHE_HITS = MetricName(
    "llmpool_cache_hits_total", "counter", "pool", ("task",),
    help="Answers served from the cache")
LLMPOOL_CACHE_MISSES = MetricName(
    "llmpool_cache_misses_total", "counter", "pool", ("task",),
    help="Cache look-ups that missed")
LLMPOOL_HEDGES = MetricName(
    "llmpool_hedges_total", "counter", "pool", ("task",), help="Hedged calls started by FASTEST")
LLMPOOL_PROVIDER_ERRORS = MetricName(
    "llmpool_provider_errors_total", "counter", "pool", ("provider", "task", "reason"),
    help="Failed provider calls by reason")
LLMPOOL_REQUESTS = MetricName(
    "llmpool_requests_total", "counter", "pool", ("task", "strategy", "outcome"),
    help="Pool requests by outcome")
LLMPOOL_GOOD_OUTCOMES: tuple[str, ...] = ("ok", "cache")

# ---------------------------------------------------------------- public API (SPEC section 5)
API_HTTP_DURATION = MetricName(
    "api_http_duration_ms", "histogram", "api", ("route", "tenant_id"),
    help="Request duration (ms) by route and tenant", buckets=LATENCY_BUCKETS_MS)
API_REQUESTS = MetricName(
    "api_requests_total", "counter", "api", ("route", "code"),
    help="Requests by route and status code")
API_RATE_LIMITED = MetricName(
    "api_rate_limited_total", "counter", "api", ("tenant_id",), help="Requests answered 429")
API_QUOTA_EXCEEDED = MetricName(
    "api_quota_exceeded_total", "counter", "api", ("tenant_id",), help="Requests answered 402")

ALL: tuple[MetricName, ...] = tuple(
    v for k, v in sorted(globals().items()) if isinstance(v, MetricName))
BY_NAME: dict[str, MetricName] = {m.name: m for m in ALL}


def declared_series() -> set[str]:
    """Every sample name a scrape of a lab exporter may show."""
    return {s for m in ALL for s in m.series()}


def for_service(service: str) -> tuple[MetricName, ...]:
    return tuple(m for m in ALL if m.service == service)
