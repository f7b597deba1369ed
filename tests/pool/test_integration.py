"""The pool against real emulator processes: chaos on one provider, hedging, deadlines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from vvtvlib.pool import DeadlineExceeded, InferRequest, Pool
from vvtvlib.pool.breaker import BreakerState
from vvtvlib.pool.emulator import EmulatorProcess
from vvtvlib.pool.emulator.content import content_for
from vvtvlib.pool.emulator.process import config_for

Factory = Callable[..., list[EmulatorProcess]]


async def _infer(pool: Pool, payload: dict[str, object], **kw: object) -> object:
    return await pool.infer(InferRequest("expand_queries", payload, **kw))  # type: ignore


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_the_same_code_talks_both_apis(trio: list[EmulatorProcess], kind: str) -> None:
    async def go() -> None:
        async with Pool(config_for(trio, kind=kind)) as pool:
            res = await _infer(pool, {"seed": f"api {kind}"})
            assert res.content == content_for(res.winner_model, "expand_queries",  # type: ignore
                                              {"seed": f"api {kind}"})
            assert res.tokens_in > 100 and res.tokens_out > 10  # type: ignore[attr-defined]
    asyncio.run(go())


def test_generate_api_too(trio: list[EmulatorProcess]) -> None:
    cfg = config_for(trio[:1])
    cfg = cfg.model_copy(update={"providers": [cfg.providers[0].model_copy(
        update={"ollama_api": "generate"})]})

    async def go() -> None:
        async with Pool(cfg) as pool:
            res = await _infer(pool, {"seed": "generate"})
            assert res.winner_model == "fast"  # type: ignore[attr-defined]
    asyncio.run(go())


def test_kill_one_provider_breaker_opens_and_fastest_still_answers(emulators: Factory) -> None:
    ems = emulators([("best", "2:4"), ("next", "10:15")])
    cfg = config_for(ems, breaker={"failure_threshold": 2, "cooldown_s": 60},
                     pool={"cache_ttl_s": 0, "hedge_after_ms": 200})

    async def go() -> None:
        async with Pool(cfg) as pool:
            for i in range(5):
                await _infer(pool, {"seed": f"warm {i}"})
            first, other = [m.id for m in pool.ranked()]  # "best" unless the machine is busy
            next(em for em in ems if em.model == first).kill()
            for i in range(4):
                res = await _infer(pool, {"seed": f"after {i}"})
                assert res.winner_model == other  # type: ignore[attr-defined]
            assert pool.members[first].breaker.state is BreakerState.OPEN
            assert pool.members[first].stats.failures == 2
    asyncio.run(go())


def test_two_seconds_on_the_best_provider_hedging_answers(emulators: Factory) -> None:
    ems = emulators([("best", "2:4"), ("next", "15:20")])
    cfg = config_for(ems, pool={"cache_ttl_s": 0, "hedge_after_ms": 60})

    async def go() -> None:
        async with Pool(cfg) as pool:
            for i in range(6):
                await _infer(pool, {"seed": f"warm {i}"})
            first, other = [m.id for m in pool.ranked()]  # "best" unless the machine is busy
            next(em for em in ems if em.model == first).faults(latency_ms=2000)
            t0 = time.perf_counter()
            res = await _infer(pool, {"seed": "slow best"})
            elapsed_ms = (time.perf_counter() - t0) * 1000
            assert res.hedge and res.winner_model == other  # type: ignore[attr-defined]
            assert res.providers_tried == [first, other]  # type: ignore[attr-defined]
            assert elapsed_ms < 2000, "the hedge answered long before the slow provider"
    asyncio.run(go())


def test_every_provider_slow_deadline_exceeded_and_no_task_left(emulators: Factory) -> None:
    ems = emulators([("a", "2:3"), ("b", "2:3")])
    for em in ems:
        em.faults(latency_ms=3000)
    cfg = config_for(ems, pool={"cache_ttl_s": 0, "hedge_after_ms": 50})

    async def go() -> None:
        async with Pool(cfg) as pool:
            for strategy in ("FASTEST", "VOTING", "WEIGHTED", "JUDGE"):
                t0 = time.perf_counter()
                with pytest.raises(DeadlineExceeded) as err:
                    await _infer(pool, {"seed": strategy}, strategy=strategy, deadline_ms=250)
                assert err.value.http_status == 504
                assert (time.perf_counter() - t0) * 1000 < 3000, "it did not wait for them"
                left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                assert not left, f"{strategy} left {left}"
                assert all(m.stats.in_flight == 0 for m in pool.members.values())
    asyncio.run(go())


@pytest.mark.parametrize("fault", ["refused", "http_500", "http_503"])
def test_a_failing_best_provider_fails_over_without_the_hedge_timer(emulators: Factory,
                                                                    fault: str) -> None:
    """The hedge timer (60 s) is beyond the deadline (1.2 s): each answer below came from
    an immediate fail-over, and the breaker still opens on the failures."""
    ems = emulators([("best", "2:4"), ("next", "2:4")])
    cfg = config_for(ems, breaker={"failure_threshold": 3, "cooldown_s": 60},
                     pool={"cache_ttl_s": 0, "hedge_after_ms": 60_000})

    async def go() -> None:
        async with Pool(cfg) as pool:
            first, other = [m.id for m in pool.ranked()]
            em = next(em for em in ems if em.model == first)
            if fault == "refused":
                em.kill()
            else:
                em.faults(**({"error_rate": 1.0} if fault == "http_500" else {"down": True}))
            for i in range(4):
                res = await _infer(pool, {"seed": f"{fault} {i}"})
                assert res.winner_model == other and not res.hedge  # type: ignore[attr-defined]
            assert pool.members[first].stats.failures == 3
            assert pool.members[first].breaker.state is BreakerState.OPEN
            assert pool.hedge_budget.spent == 0
    asyncio.run(go())


def test_every_provider_down_is_provider_failed_after_trying_each_once(
        emulators: Factory) -> None:
    from vvtvlib.pool import ProviderFailed

    ems = emulators([("a", "2:4"), ("b", "2:4"), ("c", "2:4")])
    ems[0].kill()
    ems[1].faults(error_rate=1.0)
    ems[2].faults(down=True)
    cfg = config_for(ems, pool={"cache_ttl_s": 0, "hedge_after_ms": 60_000})

    async def go() -> None:
        async with Pool(cfg) as pool:
            with pytest.raises(ProviderFailed) as err:
                await _infer(pool, {"seed": "nobody"})
            assert err.value.http_status == 502 and err.value.code == "PROVIDER_FAILED"
            # each once; b answered 500, so once more (a refused, c answered 503: no)
            assert sorted(err.value.context["providers"]) == ["a", "b", "b", "c"]
            assert all(m.stats.in_flight == 0 for m in pool.members.values())
    asyncio.run(go())
