"""Step bindings for ``n_pool.feature``: a real pool over emulator processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from vvtvlib.cli.vvtvctl import app
from vvtvlib.core.stats import percentile
from vvtvlib.pool.breaker import BreakerState
from vvtvlib.pool.emulator import EmulatorProcess, start_emulators, stop_all
from vvtvlib.pool.lab import Outcome, PoolLab, parse_models, sample_payload
from vvtvlib.pool.tasks import check_content

pytestmark = [pytest.mark.timeout(120)]
scenarios("n_pool.feature")

STRATEGIES = ("FASTEST", "VOTING", "WEIGHTED", "JUDGE")
FAST_LAB = "fast@3:6,medium@12:20,slow@25:40"
SETTINGS = {"hedge_after_ms": 60, "cache_ttl_s": 0}
BREAKER = {"failure_threshold": 2, "cooldown_s": 60}


@pytest.fixture(scope="module")
def shared_trio() -> Iterator[list[EmulatorProcess]]:
    ems = start_emulators(parse_models(FAST_LAB))
    yield ems
    stop_all(ems)


@pytest.fixture
def labs() -> Iterator[list[PoolLab]]:
    started: list[PoolLab] = []
    yield started
    for lab in started:
        lab.close()
        for em in lab.emulators:
            if em.running:
                em.clear_faults()


@given("a pool over three emulated models", target_fixture="lab")
def three(labs: list[PoolLab], shared_trio: list[EmulatorProcess], tmp_path: Path) -> PoolLab:
    lab = PoolLab(FAST_LAB, root=tmp_path, pool=SETTINGS, breaker=BREAKER,
                  emulators=shared_trio)
    labs.append(lab)
    return lab.start()


@given("a pool over three fresh emulated models", target_fixture="lab")
def three_fresh(labs: list[PoolLab], tmp_path: Path) -> PoolLab:
    lab = PoolLab(FAST_LAB, root=tmp_path, pool=SETTINGS, breaker=BREAKER)
    labs.append(lab)
    return lab.start()


@given("a pool over one model whose every answer is messy", target_fixture="lab")
def messy(labs: list[PoolLab]) -> PoolLab:
    lab = PoolLab("messy@1:2", messy_rate=1.0, pool=SETTINGS,
                  breaker={"failure_threshold": 100, "min_calls": 100})
    labs.append(lab)
    return lab.start()


@given(parsers.parse("the pool has answered {n:d} requests"))
def warm(lab: PoolLab, n: int) -> None:
    for i in range(n):
        assert lab.attempt("expand_queries", sample_payload("expand_queries", 100 + i)).ok
    lab.journal.clear()


@pytest.fixture
def best() -> dict[str, str]:
    return {}


@when("the best provider is killed")
def kill_best(lab: PoolLab, best: dict[str, str]) -> None:
    best["id"] = lab.pool.ranked()[0].id  # type: ignore[union-attr]
    lab.emulator(best["id"]).kill()


@when(parsers.parse("{ms:d} ms of latency are added to the best provider"))
def slow_best(lab: PoolLab, best: dict[str, str], ms: int) -> None:
    best["id"] = lab.pool.ranked()[0].id  # type: ignore[union-attr]
    lab.emulator(best["id"]).faults(latency_ms=ms)


@when(parsers.parse("{ms:d} ms of latency are added to every provider"))
def slow_all(lab: PoolLab, ms: int) -> None:
    for em in lab.emulators:
        em.faults(latency_ms=ms)


@when(parsers.parse("{n:d} more requests are sent with FASTEST"))
@when(parsers.parse("{n:d} requests are sent with FASTEST"))
def send(lab: PoolLab, n: int) -> None:
    for i in range(n):
        lab.attempt("expand_queries", sample_payload("expand_queries", i))


@when(parsers.parse("a request is sent with each strategy and a deadline of {ms:d} ms"))
def send_deadline(lab: PoolLab, ms: int) -> None:
    for s in STRATEGIES:
        lab.attempt("recovery_plan", sample_payload("recovery_plan", 1), s, deadline_ms=ms)


@when(parsers.parse('a "{task}" request is sent with each strategy'))
def each_strategy(lab: PoolLab, task: str) -> None:
    lab.matrix(STRATEGIES, [task], n=1)


@then("every request is answered")
def all_ok(lab: PoolLab) -> None:
    assert lab.journal and all(o.ok for o in lab.journal), [o.code for o in lab.journal]


@then("callers saw no 502")
def no_502(lab: PoolLab) -> None:
    assert not [o for o in lab.journal if o.code == "PROVIDER_FAILED"]


@then("the killed provider's breaker is open")
def breaker_open(lab: PoolLab, best: dict[str, str]) -> None:
    member = lab.pool.members[best["id"]]  # type: ignore[union-attr]
    assert member.breaker.state is BreakerState.OPEN
    assert member.stats.failures <= BREAKER["failure_threshold"], "502s limited by the breaker"


@then("the answers were hedged to another provider")
def hedged(lab: PoolLab, best: dict[str, str]) -> None:
    assert any(o.hedge for o in lab.journal)
    assert all(o.winner_model != best["id"] for o in lab.journal)


@then(parsers.parse("the p95 of those requests is at most {ms:d} ms"))
def p95(lab: PoolLab, ms: int) -> None:
    value = percentile([o.duration_ms for o in lab.journal], 95)
    assert value is not None and value <= ms, value


@then("every request fails with DEADLINE_EXCEEDED")
def all_504(lab: PoolLab) -> None:
    assert [o.code for o in lab.journal] == ["DEADLINE_EXCEEDED"] * len(STRATEGIES)


@then("no provider call is left running")
def none_left(lab: PoolLab) -> None:
    assert all(o.tasks_left == 0 for o in lab.journal)
    assert all(m.stats.in_flight == 0 for m in lab.pool.members.values())  # type: ignore


@then(parsers.parse('every request is answered with content valid for "{task}"'))
def valid_for(lab: PoolLab, task: str) -> None:
    assert [o.strategy for o in lab.journal if o.ok] == list(STRATEGIES)
    r = lab.infer(task, sample_payload(task, 0), "VOTING")
    assert r.from_cache is False and check_content(task, sample_payload(task, 0),
                                                   r.content) is None


@then("every request is answered with valid content or fails with PROVIDER_FAILED")
def valid_or_502(lab: PoolLab) -> None:
    assert len(lab.journal) == 30
    assert all(o.ok or o.code == "PROVIDER_FAILED" for o in lab.journal)


@then("both happened, and each invalid answer counted as the model's failure")
def messy_failures(lab: PoolLab) -> None:
    stats = lab.pool.members["messy"].stats  # type: ignore[union-attr]
    ok = [o for o in lab.journal if o.ok]
    failed = [o for o in lab.journal if not o.ok]
    assert failed and ok
    # a model that answered badly is asked once more: a failed request made two calls, an
    # answered one made one call per provider tried (its last one valid)
    calls = sum(len(o.providers_tried) for o in ok) + 2 * len(failed)
    assert stats.calls == calls and stats.successes == len(ok)
    assert stats.failures == calls - len(ok)


def _ask(lab: PoolLab, tenant: str) -> Outcome:
    lab.pool.cache.ttl_s = 60  # type: ignore[union-attr]
    return lab.attempt("enrich_metadata", sample_payload("enrich_metadata", 7), tenant=tenant)


@when(parsers.parse('tenant "{tenant}" asks the same question twice'))
def twice(lab: PoolLab, tenant: str) -> None:
    _ask(lab, tenant)
    _ask(lab, tenant)


@then("the second answer comes from the cache")
def second_cached(lab: PoolLab) -> None:
    assert [o.from_cache for o in lab.journal] == [False, True]


@then(parsers.parse('tenant "{tenant}" asking the same question is not served from the cache'))
def other_tenant(lab: PoolLab, tenant: str) -> None:
    assert _ask(lab, tenant).from_cache is False


@when("the operator disables the best provider")
def disable_best(lab: PoolLab, best: dict[str, str]) -> None:
    best["id"] = lab.pool.ranked()[0].id  # type: ignore[union-attr]
    res = CliRunner().invoke(app, ["pool", "provider", "disable", best["id"],
                                   "--root", str(lab.root)])
    assert res.exit_code == 0, res.output


@then("the next requests avoid it without a restart")
def avoided(lab: PoolLab, best: dict[str, str]) -> None:
    for o in lab.matrix(STRATEGIES, ["expand_queries"], n=2):
        assert o.ok and best["id"] not in o.providers_tried
