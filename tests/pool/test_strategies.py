"""Every strategy, the deadline and the concurrency limit, over in-memory providers."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from tests.pool.helpers import (
    ScriptedProvider,
    payload_where,
    run_in_virtual_time,
    scripted_config,
)
from vvtvlib.pool import DeadlineExceeded, InferRequest, NotReady, Pool, ProviderFailed
from vvtvlib.pool.breaker import BreakerState
from vvtvlib.pool.emulator.content import content_for

SEED = {"seed": "jazz"}


def make_pool(providers: list[ScriptedProvider], weights: list[float] | None = None,
              **pool: object) -> Pool:
    cfg = scripted_config(providers, weights, pool={"hedge_after_ms": 30, **pool},
                          breaker={"failure_threshold": 2, "cooldown_s": 60})
    return Pool(cfg, adapters={p.id: p for p in providers}, rng=random.Random(7))


def run(pool: Pool, **kw: object) -> object:
    """One inference on a virtual-time loop: the scripted latencies, the hedge timer and the
    deadlines keep their order however loaded the machine is."""
    async def go() -> object:
        try:
            return await pool.infer(InferRequest(**{"task": "expand_queries",  # type: ignore
                                                    "payload": SEED, **kw}))
        finally:
            assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()], \
                "a task was left running"
    return run_in_virtual_time(go())


def test_fastest_answers_from_the_fastest_and_caches() -> None:
    a, b = ScriptedProvider("a", "ma", 5), ScriptedProvider("b", "mb", 60)
    pool = make_pool([a, b])
    res = run(pool)
    assert res.strategy_used == "FASTEST" and not res.from_cache  # type: ignore[attr-defined]
    assert res.content == content_for(res.winner_model, "expand_queries", SEED)  # type: ignore
    again = run(pool)
    assert again.from_cache and again.content == res.content  # type: ignore[attr-defined]


def test_fastest_hedges_after_hedge_after_ms_and_cancels_the_loser() -> None:
    slow, quick = ScriptedProvider("slow", "ms", 2000), ScriptedProvider("quick", "mq", 10)
    pool = make_pool([slow, quick], weights=[5, 1])  # unknown latency: the heavier goes first
    res = run(pool)
    assert res.winner_model == "mq" and res.hedge  # type: ignore[attr-defined]
    assert res.providers_tried == ["slow", "quick"]  # type: ignore[attr-defined]
    assert slow.cancelled == 1 and res.duration_ms < 1000  # type: ignore[attr-defined]


def test_hedge_budget_caps_hedges() -> None:
    slow, quick = ScriptedProvider("slow", "ms", 120), ScriptedProvider("quick", "mq", 5)
    pool = make_pool([slow, quick], weights=[5, 1], hedge_budget_burst=1,
                     hedge_budget_ratio=0.0, cache_ttl_s=0)
    first = run(pool, payload={"seed": "one"})
    pool.members["slow"].stats.ewma_ms = None  # make the slow one look best again
    pool.members["quick"].stats.ewma_ms = 500.0
    second = run(pool, payload={"seed": "two"})
    assert first.hedge and not second.hedge  # type: ignore[attr-defined]
    assert second.winner_model == "ms" and pool.hedge_budget.refused >= 1  # type: ignore


def test_fastest_fails_over_and_the_breaker_opens() -> None:
    bad, good = ScriptedProvider("bad", "mb", 0, fail=True), ScriptedProvider("good", "mg", 5)
    pool = make_pool([bad, good], weights=[5, 1], cache_ttl_s=0)
    for i in range(3):
        res = run(pool, payload={"seed": f"s{i}"})
        assert res.winner_model == "mg" and not res.hedge  # type: ignore[attr-defined]
    assert pool.members["bad"].breaker.state is BreakerState.OPEN
    assert bad.calls == 2, "an open breaker stops calls"


def test_every_provider_failing_is_provider_failed() -> None:
    pool = make_pool([ScriptedProvider("x", "mx", fail=True), ScriptedProvider("y", "my",
                                                                              fail=True)])
    with pytest.raises(ProviderFailed) as err:
        run(pool)
    assert err.value.http_status == 502


def test_invalid_output_counts_as_the_provider_failure() -> None:
    messy = ScriptedProvider("messy", "mm", text=lambda c: '{"must_include": ["x"]}')
    good = ScriptedProvider("good", "mg", 5)
    pool = make_pool([messy, good], weights=[5, 1])
    res = run(pool)
    assert res.winner_model == "mg"  # type: ignore[attr-defined]
    assert pool.members["messy"].stats.failures == 1


def test_deadline_cancels_in_flight_calls() -> None:
    a, b = ScriptedProvider("a", "ma", 3000), ScriptedProvider("b", "mb", 3000)
    pool = make_pool([a, b])
    with pytest.raises(DeadlineExceeded) as err:
        run(pool, deadline_ms=100)
    assert err.value.http_status == 504 and a.cancelled + b.cancelled == 2


def test_voting_majority_on_canonical_answers() -> None:
    payload = payload_where("expand_queries", False, lambda i: {"seed": f"s{i}"})
    # two providers share a model name: they give the same answer; the third differs
    p = [ScriptedProvider("a1", "same", 5), ScriptedProvider("a2", "same", 10),
         ScriptedProvider("b", "other", 15)]
    pool = make_pool(p, weights=[1, 1, 5], voting_k=3)
    res = run(pool, strategy="VOTING", payload=payload)
    assert res.quorum == "majority" and res.winner_model == "same"  # type: ignore[attr-defined]
    assert res.content == content_for("same", "expand_queries", payload)  # type: ignore


def test_voting_partial_quorum_at_the_deadline() -> None:
    payload = payload_where("expand_queries", False, lambda i: {"seed": f"p{i}"})
    p = [ScriptedProvider("a", "ma", 5), ScriptedProvider("b", "mb", 5000),
         ScriptedProvider("c", "mc", 5000)]
    pool = make_pool(p, voting_k=3)
    res = run(pool, strategy="VOTING", payload=payload, deadline_ms=200)
    assert res.quorum == "partial" and res.winner_model == "ma"  # type: ignore[attr-defined]
    assert p[1].cancelled == p[2].cancelled == 1


def test_voting_ties_are_broken_by_weight() -> None:
    payload = payload_where("expand_queries", False, lambda i: {"seed": f"t{i}"})
    p = [ScriptedProvider("light", "ml", 5), ScriptedProvider("heavy", "mh", 5)]
    pool = make_pool(p, weights=[1, 3], voting_k=2)
    res = run(pool, strategy="VOTING", payload=payload)
    assert res.winner_model == "mh" and res.quorum == "partial"  # type: ignore[attr-defined]


def test_weighted_follows_weights_and_fails_over() -> None:
    p = [ScriptedProvider("a", "ma"), ScriptedProvider("b", "mb")]
    pool = make_pool(p, weights=[1, 9], cache_ttl_s=0)
    wins = [run(pool, strategy="WEIGHTED", payload={"seed": f"w{i}"}).winner_model  # type: ignore
            for i in range(60)]
    assert wins.count("mb") > wins.count("ma") * 2
    p[1].fail = True
    res = run(pool, strategy="WEIGHTED", payload={"seed": "after"})
    assert res.winner_model == "ma"  # type: ignore[attr-defined]


def test_judge_picks_among_candidates_and_the_choice_is_validated() -> None:
    payload = payload_where("expand_queries", False, lambda i: {"seed": f"j{i}"})
    p = [ScriptedProvider("a", "ma", 5), ScriptedProvider("b", "mb", 5),
         ScriptedProvider("judge", "mj", 5)]
    pool = make_pool(p, weights=[1, 1, 3], judge="judge")
    res = run(pool, strategy="JUDGE", payload=payload)
    assert res.judge_model == "mj" and res.winner_model in ("ma", "mb")  # type: ignore
    assert p[2].log == ["judge"], "the judge answers the judge task only"


def test_a_judge_naming_no_candidate_falls_back_to_the_heaviest() -> None:
    payload = payload_where("expand_queries", False, lambda i: {"seed": f"k{i}"})
    bogus = json.dumps({"winner_id": "c9", "scores": [{"id": "c9", "score": 1}], "reason": "x"})
    p = [ScriptedProvider("a", "ma", 5), ScriptedProvider("b", "mb", 5),
         ScriptedProvider("judge", "mj", 5, text=lambda c: bogus)]
    pool = make_pool(p, weights=[1, 2, 3], judge="judge")
    res = run(pool, strategy="JUDGE", payload=payload)
    assert res.judge_model is None and res.winner_model == "mb"  # type: ignore[attr-defined]


def test_concurrency_limit_per_provider() -> None:
    a = ScriptedProvider("a", "ma", 20)
    cfg = scripted_config([a])
    cfg = cfg.model_copy(update={"providers": [cfg.providers[0].model_copy(
        update={"max_concurrency": 2})]})
    pool = Pool(cfg, adapters={"a": a})

    async def go() -> None:
        await asyncio.gather(*(pool.infer(InferRequest("expand_queries", {"seed": f"c{i}"}))
                               for i in range(8)))
    asyncio.run(go())
    assert a.calls == 8 and a.peak == 2


def test_disabled_providers_are_skipped_without_restart(tmp_path: object) -> None:
    from pathlib import Path

    from vvtvlib.pool.state import set_enabled

    root = Path(str(tmp_path))
    (root / "pool").mkdir()
    p = [ScriptedProvider("a", "ma", 1), ScriptedProvider("b", "mb", 1)]
    pool = Pool(scripted_config(p, pool={"cache_ttl_s": 0}), root=root,
                adapters={x.id: x for x in p})
    set_enabled(root / "pool" / "state.toml", "a", False)
    res = run(pool, payload={"seed": "x"})
    assert res.winner_model == "mb"  # type: ignore[attr-defined]
    set_enabled(root / "pool" / "state.toml", "b", False)
    with pytest.raises(NotReady):
        run(pool, payload={"seed": "y"})
    set_enabled(root / "pool" / "state.toml", "a", True)
    assert run(pool, payload={"seed": "z"}).winner_model == "ma"  # type: ignore[attr-defined]
    assert (root / "pool" / "health.json").exists()


def test_voting_with_one_failure_and_the_rest_too_slow_is_a_deadline() -> None:
    p = [ScriptedProvider("bad", "mb", 1, fail=True), ScriptedProvider("s1", "m1", 3000),
         ScriptedProvider("s2", "m2", 3000)]
    pool = make_pool(p, voting_k=3)
    with pytest.raises(DeadlineExceeded):
        run(pool, strategy="VOTING", deadline_ms=150)


def test_judge_out_of_time_answers_with_the_heaviest_candidate() -> None:
    payload = payload_where("expand_queries", False, lambda i: {"seed": f"d{i}"})
    p = [ScriptedProvider("a", "ma", 5), ScriptedProvider("b", "mb", 5),
         ScriptedProvider("judge", "mj", 3000)]
    pool = make_pool(p, weights=[2, 1, 3], judge="judge")
    res = run(pool, strategy="JUDGE", payload=payload, deadline_ms=200)
    assert res.judge_model is None and res.winner_model == "ma"  # type: ignore[attr-defined]
    assert p[2].cancelled == 1


def test_judge_waits_past_its_share_for_a_first_candidate_without_calling_twice() -> None:
    payload = payload_where("expand_queries", False, lambda i: {"seed": f"w{i}"})
    p = [ScriptedProvider("a", "ma", 150), ScriptedProvider("b", "mb", 3000),
         ScriptedProvider("judge", "mj", 1)]
    pool = make_pool(p, weights=[1, 1, 3], judge="judge")
    res = run(pool, strategy="JUDGE", payload=payload, deadline_ms=200)  # 60 % = 120 ms
    assert res.winner_model == "ma" and p[0].calls == 1 and p[1].calls == 1  # type: ignore
    assert p[2].calls == 0, "one candidate needs no judge"


def test_ready_reflects_the_breakers() -> None:
    pool = make_pool([ScriptedProvider("a", "ma"), ScriptedProvider("b", "mb")])
    assert pool.ready()
    for pid in ("a", "b"):
        for _ in range(2):
            pool.members[pid].breaker.record_failure()
        assert pool.ready() is (pid == "a")
    with pytest.raises(NotReady) as err:
        run(pool)
    assert err.value.http_status == 503


def test_concurrent_requests_keep_every_counter_consistent() -> None:
    p = [ScriptedProvider("a", "ma", 40), ScriptedProvider("b", "mb", 5),
         ScriptedProvider("c", "mc", 5, fail=True)]
    pool = make_pool(p, weights=[3, 2, 1], cache_ttl_s=0, hedge_budget_burst=100)

    async def go() -> list[object]:
        return await asyncio.gather(*(pool.infer(InferRequest(
            "expand_queries", {"seed": f"c{i}"}, strategy=("FASTEST", "VOTING")[i % 2]))
            for i in range(60)), return_exceptions=True)
    results = asyncio.run(go())
    assert all(not isinstance(r, BaseException) for r in results)
    for sp in p:
        s = pool.members[sp.id].stats.snapshot()
        # calls cancelled while queued for the concurrency limit never reach the adapter
        assert s.in_flight == 0 and sp.calls <= s.calls and sp.peak <= 8
        assert s.calls == s.successes + s.failures + s.cancelled


def test_hedge_budget_is_a_share_of_requests() -> None:
    from vvtvlib.pool.routing import HedgeBudget

    budget = HedgeBudget(ratio=0.2, burst=2)
    spent = 0
    for _ in range(100):
        budget.earn()
        spent += budget.try_spend()
    assert spent <= 2 + 0.2 * 100 and budget.refused > 0


def _refusing_port() -> tuple[int, object]:
    """A port bound but not listening: connecting to it is refused (kept until closed)."""
    import socket

    sk = socket.socket()
    sk.bind(("127.0.0.1", 0))
    return sk.getsockname()[1], sk


def test_fastest_fails_over_at_once_from_a_refused_connection() -> None:
    """The real adapter meets a refused connection; the next provider answers. The hedge
    timer (60 s) is far beyond the deadline (1.2 s): only an immediate fail-over answers."""
    from vvtvlib.pool.config import PoolConfig

    port, sk = _refusing_port()
    good = ScriptedProvider("good", "mg", 5)
    cfg = scripted_config([ScriptedProvider("dead", "md"), good], [5, 1],
                          pool={"hedge_after_ms": 60_000, "cache_ttl_s": 0})
    data = cfg.model_dump()
    data["providers"][0]["base_url"] = f"http://127.0.0.1:{port}"
    pool = Pool(PoolConfig.model_validate(data), adapters={"good": good})  # dead: real HTTP
    try:
        res = run(pool)
    finally:
        sk.close()  # type: ignore[attr-defined]
    assert res.winner_model == "mg" and not res.hedge  # type: ignore[attr-defined]
    assert res.providers_tried == ["dead", "good"]  # type: ignore[attr-defined]
    assert pool.members["dead"].stats.failures == 1 and good.calls == 1
    assert pool.hedge_budget.spent == 0, "a fail-over is not a hedge"


@pytest.mark.parametrize("bad", [
    ScriptedProvider("bad", "mb", 0, fail=True),  # HTTP 500
    ScriptedProvider("bad", "mb", 0, text=lambda c: '{"must_include": ["x"]}')])  # invalid
def test_fastest_fails_over_at_once_from_an_error_or_an_invalid_answer(
        bad: ScriptedProvider) -> None:
    good = ScriptedProvider("good", "mg", 5)
    pool = make_pool([bad, good], weights=[5, 1], hedge_after_ms=60_000, cache_ttl_s=0)
    res = run(pool)  # default deadline 1.2 s < the hedge timer
    assert res.winner_model == "mg" and not res.hedge  # type: ignore[attr-defined]
    assert res.providers_tried == ["bad", "good"]  # type: ignore[attr-defined]
    assert pool.members["bad"].stats.failures == 1


def test_a_failure_while_a_hedge_runs_asks_the_next_provider_at_once() -> None:
    """first fails after the hedge to `stuck` (which never answers in time) began; the
    hedge budget allows no second hedge, so only the fail-over can reach `third`."""
    first = ScriptedProvider("first", "m1", 100, fail=True)
    stuck = ScriptedProvider("stuck", "m2", 60_000)
    third = ScriptedProvider("third", "m3", 5)
    pool = make_pool([first, stuck, third], weights=[3, 2, 1], hedge_budget_burst=1,
                     hedge_budget_ratio=0.0, cache_ttl_s=0)
    res = run(pool)
    assert res.winner_model == "m3" and res.hedge  # type: ignore[attr-defined]
    assert res.providers_tried == ["first", "stuck", "third"]  # type: ignore[attr-defined]
    assert stuck.cancelled == 1, "the loser still running is cancelled"
    assert pool.hedge_budget.spent == 1
    # breaker accounting: one failure for `first`, no verdict for the cancelled hedge
    assert pool.members["first"].stats.failures == 1
    assert pool.members["stuck"].stats.failures == 0
    assert pool.members["stuck"].breaker.state is BreakerState.CLOSED
    assert pool.members["stuck"].stats.in_flight == 0


def test_fail_over_skips_a_provider_whose_breaker_opened_since_the_ranking() -> None:
    bad = ScriptedProvider("bad", "mb", 0, fail=True)
    gone, good = ScriptedProvider("gone", "mx", 5), ScriptedProvider("good", "mg", 5)
    pool = make_pool([bad, gone, good], weights=[3, 2, 1], hedge_after_ms=60_000,
                     cache_ttl_s=0)
    real_call = pool._call

    async def call_then_trip(run_: object, member: object, *a: object) -> object:
        if member.id == "bad":  # type: ignore[attr-defined]
            for _ in range(2):  # `gone`'s breaker opens while `bad` is being asked
                pool.members["gone"].breaker.record_failure()
        return await real_call(run_, member, *a)  # type: ignore[arg-type]
    pool._call = call_then_trip  # type: ignore[method-assign,assignment]
    res = run(pool)
    assert res.winner_model == "mg"  # type: ignore[attr-defined]
    assert res.providers_tried == ["bad", "good"] and gone.calls == 0  # type: ignore


def test_every_provider_failing_after_fail_overs_is_provider_failed_502() -> None:
    port, sk = _refusing_port()
    from vvtvlib.pool.config import PoolConfig

    x, y = ScriptedProvider("x", "mx", fail=True), ScriptedProvider("y", "my", 3, fail=True)
    cfg = scripted_config([ScriptedProvider("dead", "md"), x, y], [3, 2, 1],
                          pool={"hedge_after_ms": 60_000})
    data = cfg.model_dump()
    data["providers"][0]["base_url"] = f"http://127.0.0.1:{port}"
    pool = Pool(PoolConfig.model_validate(data), adapters={"x": x, "y": y})
    try:
        with pytest.raises(ProviderFailed) as err:
            run(pool)
    finally:
        sk.close()  # type: ignore[attr-defined]
    assert err.value.http_status == 502 and err.value.code == "PROVIDER_FAILED"
    # every provider once, then those that answered with a 500 once more; not the dead one
    assert err.value.context["providers"] == ["dead", "x", "y", "x", "y"]
    assert "dead: unreachable" in str(err.value) and "x: http_500" in str(err.value)


def test_a_hedge_the_budget_refused_is_made_at_half_the_deadline() -> None:
    """The budget's one token goes to the first request; the second, stuck on `slow`,
    still gets its hedge, at half its deadline (not at hedge_after_ms), and answers."""
    slow, quick = ScriptedProvider("slow", "ms", 60_000), ScriptedProvider("quick", "mq", 5)
    pool = make_pool([slow, quick], weights=[5, 1], hedge_budget_burst=1,
                     hedge_budget_ratio=0.0, cache_ttl_s=0)
    first = run(pool, payload={"seed": "one"}, deadline_ms=800)
    assert first.hedge and pool.hedge_budget.spent == 1  # type: ignore[attr-defined]
    pool.members["slow"].stats.ewma_ms = None  # make the slow one look best again
    pool.members["quick"].stats.ewma_ms = 500.0
    asked_at: list[float] = []
    real = quick.complete

    async def timed(call: object) -> object:
        asked_at.append(asyncio.get_running_loop().time())
        return await real(call)  # type: ignore[arg-type]
    quick.complete = timed  # type: ignore[method-assign,assignment]

    async def go() -> tuple[object, float]:
        t0 = asyncio.get_running_loop().time()
        res = await pool.infer(InferRequest("expand_queries", {"seed": "two"},
                                            deadline_ms=800))
        return res, t0
    second, t0 = run_in_virtual_time(go())
    assert second.winner_model == "mq" and second.hedge  # type: ignore[attr-defined]
    assert second.providers_tried == ["slow", "quick"]  # type: ignore[attr-defined]
    assert pool.hedge_budget.spent == 1 and pool.hedge_budget.refused == 1
    assert asked_at[0] - t0 >= 0.4, "asked at half the deadline, not at hedge_after_ms"
    assert slow.cancelled == 2


def test_a_provider_that_answered_badly_is_asked_once_more_after_the_others() -> None:
    """A messy answer is the provider's failure, but a second call to it may answer well:
    with time left it is asked again, once, after the providers not yet asked."""
    def messy_then_good(call: object) -> str:  # the second call answers well, no other
        if flaky.calls == 2:
            return json.dumps(content_for("mf", "expand_queries", SEED))
        return '{"must_include": ["x"]}'
    flaky = ScriptedProvider("flaky", "mf", 0, text=messy_then_good)  # type: ignore[arg-type]
    down = ScriptedProvider("down", "md", 0, fail=True)
    pool = make_pool([flaky, down], weights=[5, 1], hedge_after_ms=60_000, cache_ttl_s=0)
    res = run(pool)
    assert res.winner_model == "mf"  # type: ignore[attr-defined]
    assert res.providers_tried == ["flaky", "down", "flaky"]  # type: ignore[attr-defined]
    assert pool.members["flaky"].stats.failures == 1, "the bad answer still counts"
    assert pool.members["flaky"].stats.calls == 2
    with pytest.raises(ProviderFailed):  # messy twice: no third call
        run(pool, payload={"seed": "again"})
    # flaky twice again; down once: its second failure opened its breaker (threshold 2),
    # so its retry was skipped
    assert flaky.calls == 4 and down.calls == 2
    assert pool.members["down"].breaker.state is BreakerState.OPEN


def test_health_publishes_fastests_order_not_only_the_median() -> None:
    a, b, c = (ScriptedProvider("a", "ma", 5), ScriptedProvider("b", "mb", 60),
               ScriptedProvider("c", "mc", 5, fail=True))
    pool = make_pool([a, b, c], weights=[3, 2, 1], cache_ttl_s=0)
    run(pool, payload={"seed": "r1"})
    for _ in range(2):
        pool.members["c"].breaker.record_failure()  # c's breaker opens
    # a turned slow once (a call cancelled after 900 ms): FASTEST now asks b first, while
    # a's median of past answers is still the lowest
    pool.members["a"].stats.started()
    pool.members["a"].stats.was_cancelled(900.0)
    pool.members["b"].stats.ewma_ms = 60.0
    rows = {h.id: h for h in pool.health()}
    assert [m.id for m in pool.ranked()] == ["b", "a"]
    assert rows["b"].rank == 0 and rows["a"].rank == 1 and rows["c"].rank is None
    assert rows["a"].p50_ms is not None and rows["a"].p50_ms < 60
    assert rows["a"].ewma_ms is not None and rows["a"].ewma_ms > rows["b"].ewma_ms  # type: ignore


def test_a_breaker_opening_reaches_health_json_at_once(tmp_path: object) -> None:
    from pathlib import Path

    from vvtvlib.pool.config import pool_dir

    root = Path(str(tmp_path))
    pool_dir(root).mkdir(parents=True)
    bad, good = ScriptedProvider("bad", "mb", 0, fail=True), ScriptedProvider("good", "mg", 5)
    cfg = scripted_config([bad, good], [5, 1], pool={"hedge_after_ms": 30, "cache_ttl_s": 0},
                          breaker={"failure_threshold": 2, "cooldown_s": 60})
    pool = Pool(cfg, root=root, adapters={"bad": bad, "good": good}, rng=random.Random(7))

    def health() -> dict[str, dict[str, object]]:
        data = json.loads((pool_dir(root) / "health.json").read_text())
        return {p["id"]: p for p in data["providers"]}
    run(pool, payload={"seed": "h1"})  # the first snapshot; the next is a second away
    assert health()["bad"]["breaker"] == "closed" and health()["bad"]["breaker_opens"] == 0
    run(pool, payload={"seed": "h2"})  # bad's second failure opens its breaker
    assert health()["bad"]["breaker"] == "open" and health()["bad"]["breaker_opens"] == 1
    run(pool, payload={"seed": "h3"})
    assert health()["bad"]["breaker_opens"] == 1, "no forced write without a new opening"


def test_a_provider_slow_once_is_explored_again_when_its_estimate_is_stale() -> None:
    """FASTEST sends nothing to a provider ranked behind a faster one, so its estimate would
    never change: once it is ``explore_after_s`` old, one call goes to it (with nothing in
    flight there), and that fresh sample replaces the stale estimate."""
    from vvtvlib.core.clock import FakeClock

    clock = FakeClock()
    a, b = ScriptedProvider("a", "ma", 5), ScriptedProvider("b", "mb", 60)
    cfg = scripted_config([a, b], [2, 1], pool={"hedge_after_ms": 10_000, "cache_ttl_s": 0,
                                                "explore_after_s": 30},
                          breaker={"failure_threshold": 2, "cooldown_s": 60})
    pool = Pool(cfg, adapters={"a": a, "b": b}, clock=clock, rng=random.Random(7))
    pool.members["a"].stats.started()
    pool.members["a"].stats.was_cancelled(900.0)  # one slow call: a goes behind b
    pool.members["b"].stats.started()
    pool.members["b"].stats.succeeded(60.0)
    for i in range(3):
        assert run(pool, payload={"seed": f"s{i}"}).winner_model == "mb"  # type: ignore
    assert a.calls == 0
    clock.advance(29.0)
    assert [m.id for m in pool.ranked()] == ["b", "a"]  # not stale yet
    clock.advance(1.0)  # a: 30 s without a sample; b keeps answering
    pool.members["b"].stats.started()
    pool.members["b"].stats.succeeded(60.0)
    assert [m.id for m in pool.ranked()] == ["a", "b"]
    assert run(pool, payload={"seed": "explore"}).winner_model == "ma"  # type: ignore
    assert a.calls == 1 and pool.members["a"].stats.ewma_ms == 5.0  # replaced, not averaged
    assert [m.id for m in pool.ranked()] == ["a", "b"]  # and a is first on its merits again


def test_a_fresh_estimate_is_averaged_and_exploring_can_be_turned_off() -> None:
    from vvtvlib.core.clock import FakeClock
    from vvtvlib.pool.routing import ProviderStats

    clock = FakeClock()
    s = ProviderStats(clock=clock.monotonic, stale_after_s=30)
    s.started()
    s.succeeded(100.0)
    clock.advance(10)
    s.started()
    s.succeeded(200.0)
    assert s.ewma_ms == pytest.approx(130.0) and not s.stale()
    never = ProviderStats(clock=clock.monotonic, stale_after_s=0)
    never.started()
    never.succeeded(100.0)
    clock.advance(10_000)
    assert not never.stale()
