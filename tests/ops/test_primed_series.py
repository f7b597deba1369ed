"""Error counters exist at 0 from the start, so a ratio, a panel or an alert reads 0, not
"no data", before the first error of its kind (the game-day dashboard check needs this)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from prometheus_client import CollectorRegistry

from vvtvlib.api.metrics import ApiMetrics
from vvtvlib.api.pipeline import Call
from vvtvlib.pool.metrics import PoolMetrics


def test_pool_error_counters_start_at_zero_for_known_providers_and_tasks() -> None:
    reg = CollectorRegistry()
    m = PoolMetrics(reg)
    assert reg.get_sample_value("llmpool_timeouts_total", {"provider": "p1", "task": "judge"}) \
        is None
    m.prime(["p1", "p2"], ["judge", "expand_queries"], ["FASTEST", "VOTING"])
    assert reg.get_sample_value("llmpool_timeouts_total", {"provider": "p2", "task": "judge"}) \
        == 0.0
    assert reg.get_sample_value("llmpool_breaker_open_total", {"provider": "p1"}) == 0.0
    assert reg.get_sample_value("llmpool_cache_hits_total", {"task": "expand_queries"}) == 0.0
    assert reg.get_sample_value("llmpool_requests_total", {
        "task": "judge", "strategy": "VOTING", "outcome": "ProviderFailed"}) == 0.0
    # nothing beyond the configured values: the label sets stay bounded
    assert reg.get_sample_value("llmpool_breaker_open_total", {"provider": "p3"}) is None


def test_api_server_errors_and_tenant_refusals_start_at_zero() -> None:
    reg = CollectorRegistry()
    m = ApiMetrics(reg)
    m.prime(["/v1/infer", "/v1/usage"], ["t_a"])
    assert reg.get_sample_value("api_requests_total", {"route": "/v1/infer", "code": "502"}) \
        == 0.0
    assert reg.get_sample_value("api_rate_limited_total", {"tenant_id": "t_a"}) == 0.0
    assert reg.get_sample_value("api_quota_exceeded_total", {"tenant_id": "t_a"}) == 0.0
    assert reg.get_sample_value("api_requests_total", {"route": "/v1/infer", "code": "200"}) \
        is None


def test_a_tenant_first_seen_while_running_gets_its_refusal_counters_at_zero() -> None:
    reg = CollectorRegistry()
    m = ApiMetrics(reg)
    m.prime(["/v1/infer"], [])
    # what the pipeline tells its observers about one finished call
    call = SimpleNamespace(tenant_id="t_new", path="/v1/infer", status=200, duration_ms=3.0)
    m.observe(cast(Call, call))
    assert reg.get_sample_value("api_rate_limited_total", {"tenant_id": "t_new"}) == 0.0
    assert reg.get_sample_value("api_quota_exceeded_total", {"tenant_id": "t_new"}) == 0.0
    assert reg.get_sample_value("api_requests_total", {"route": "/v1/infer", "code": "200"}) \
        == 1.0
