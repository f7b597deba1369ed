"""The pool: one request in, one validated answer out, by one of four strategies.

``Pool.infer(InferRequest)`` validates the payload, consults the cache, then runs the
strategy under the request's deadline (``hints.deadline_ms``, default and cap per task);
when it passes every in-flight call is cancelled and ``DeadlineExceeded`` is raised.

* FASTEST: the best healthy provider (lowest latency estimate, load-adjusted); if it has not
  answered after ``hedge_after_ms`` the next one is asked too (when the hedge budget allows);
  the first valid answer wins, the others are cancelled. A failed call is replaced at once
  by the next available provider, even while a hedge runs (no wait for the hedge timer); a
  provider that answered badly is asked once more after the others; a hedge the budget
  refused is made at half the deadline.
* VOTING: ``voting_k`` providers at once; the first answer (canonical JSON) held by a majority
  wins; at the deadline the largest group so far wins (partial quorum). Ties: total weight.
* WEIGHTED: providers drawn at random in proportion to weight x health, one after another.
* JUDGE: candidates from the other providers, then the judge model picks one with the
  ``judge`` task; its choice is validated (it must name a candidate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.features import DEFAULTS, Features, FlagWatcher, flags_path
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.trace import TraceContext, current_trace, new_trace, use_trace

from .breaker import BreakerState, CircuitBreaker
from .cache import AnswerCache, cache_key
from .config import PoolConfig, ProviderConfig, load_pool_config, pool_dir, providers_path
from .errors import DeadlineExceeded, Drained, NotReady, ProviderFailed
from .metrics import PoolMetrics, default_metrics
from .providers import (
    BreakerProvider,
    LimitedProvider,
    Provider,
    ProviderCall,
    ProviderReply,
    SanitizingProvider,
    make_adapter,
)
from .records import InferRequest, InferResult, Strategy, parse_strategy
from .routing import HedgeBudget, ProviderStats
from .state import EnableState
from .tasks import TASKS, deadline_ms, validate_payload
from .tokens import canonical_json

# Failures after which a provider may be asked once more within the same request: it
# answered, badly (messy JSON, a transient server error), and is likely to answer well.
RETRYABLE = frozenset({"invalid_output", "bad_response", "http_500", "http_502", "http_504"})


@dataclass
class Member:
    config: ProviderConfig
    provider: Provider  # the full wrapper chain
    breaker: CircuitBreaker
    stats: ProviderStats

    @property
    def id(self) -> str:
        return self.config.id


@dataclass(frozen=True)
class ProviderHealth:
    id: str
    model: str
    kind: str
    base_url: str
    enabled: bool
    breaker: str
    p50_ms: float | None
    p95_ms: float | None
    error_rate: float
    calls: int
    failures: int
    in_flight: int
    up: bool | None = None
    ping_ms: float | None = None
    # what FASTEST routes on: the latency estimate (cancelled calls included) and the
    # provider's place in its order (0 = asked first; None = not usable now). p50 is the
    # median of past answers: a provider demoted by a slow or cancelled call keeps a low p50
    # while FASTEST no longer asks it.
    ewma_ms: float | None = None
    rank: int | None = None
    breaker_opens: int = 0  # times its breaker opened since the pool started


@dataclass
class _Gathered:
    replies: list[ProviderReply] = field(default_factory=list)
    errors: list[ProviderFailed] = field(default_factory=list)
    timed_out: bool = False

    def failure(self, run: _Run, pool: Pool) -> ProviderFailed | DeadlineExceeded:
        if self.timed_out or not self.errors:
            return pool._deadline(run, deadline_ms(run.task, run.request.deadline_ms))
        return _all_failed(run, self.errors)


@dataclass
class _Run:
    """What one request accumulates while a strategy runs."""

    request: InferRequest
    task: str
    deadline_at: float
    tried: list[str]
    hedge: bool = False


class Pool:
    def __init__(self, config: PoolConfig, *, root: str | Path | None = None,
                 clock: Clock = SYSTEM_CLOCK, metrics: PoolMetrics | None = None,
                 rng: random.Random | None = None,
                 adapters: dict[str, Provider] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.metrics = metrics or default_metrics()
        self.metrics.prime([pc.id for pc in config.providers], TASKS, [st.value for st in Strategy])
        self.rng = rng or random.Random()
        self.folder = pool_dir(root) if root is not None else None
        self.enable_state = EnableState(self.folder / "state.toml" if self.folder else None)
        # feature flags (drain, hedge_after_ms, per-task deadline): one stat per request
        self.features = FlagWatcher(flags_path(root)) if root is not None else None
        s = config.pool
        self.cache = AnswerCache(s.cache_ttl_s, s.cache_max_entries, clock)
        self.hedge_budget = HedgeBudget(s.hedge_budget_ratio, s.hedge_budget_burst)
        self.members: dict[str, Member] = {}
        for pc in config.providers:
            adapter = (adapters or {}).get(pc.id) or make_adapter(pc)
            stats = ProviderStats(clock=clock.monotonic,
                                  stale_after_s=config.pool.explore_after_s)
            breaker = CircuitBreaker(config.breaker, clock=clock,
                                     on_open=self._opened_callback(pc.id))
            chain = BreakerProvider(SanitizingProvider(LimitedProvider(adapter,
                                                                       pc.max_concurrency)),
                                    breaker, stats)
            self.members[pc.id] = Member(pc, chain, breaker, stats)
        self._last_snapshot = -1.0
        self._snapshot_due = False
        self._log_fd: int | None = None
        if self.folder is not None:  # logs/pool.jsonl: one line per inference, with its trace
            logs = self.folder.parent / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            self._log_fd = os.open(logs / "pool.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                   0o600)

    @classmethod
    def from_root(cls, root: str | Path | None, **kwargs: Any) -> Pool:
        return cls(load_pool_config(providers_path(root)), root=root, **kwargs)

    def _opened_callback(self, provider_id: str) -> Callable[[], None]:
        def opened() -> None:
            self.metrics.breaker_open.labels(provider_id).inc()
            self._snapshot_due = True  # an opening reaches health.json with this request
        return opened

    async def aclose(self) -> None:
        await asyncio.gather(*(m.provider.aclose() for m in self.members.values()),
                             return_exceptions=True)
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the entry point -------------------------------------------------------------------
    def flags(self) -> Features:
        return self.features.current() if self.features is not None else DEFAULTS

    async def infer(self, request: InferRequest) -> InferResult:
        """One inference in its own span of the caller's W3C trace (or a new trace); with a
        root, one line in ``logs/pool.jsonl`` (task, strategy, outcome, winner, duration, the
        trace and span ids; never the payload or the content). Provider calls carry the
        span's child in ``traceparent``."""
        parent = current_trace()
        ctx = parent.child() if parent is not None else new_trace()
        t0 = time.perf_counter()
        outcome, result = "error", None
        try:
            with use_trace(ctx):
                result = await self._infer(request)
            outcome = "cache" if result.from_cache else "ok"
            return result
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            if self._log_fd is not None:
                self._log_line(ctx, request, outcome, result, t0)

    def _log_line(self, ctx: TraceContext, request: InferRequest, outcome: str,
                  result: InferResult | None, t0: float) -> None:
        line = orjson.dumps({
            "ts": utc_iso(self.clock.now()), "service": "pool", "severity": "INFO",
            "msg": "infer", "trace_id": ctx.trace_id, "span_id": ctx.span_id,
            "tenant_id": request.tenant_id or None, "task": request.task,
            "strategy": request.strategy, "outcome": outcome,
            "winner_provider": result.winner_provider if result else None,
            "hedge": result.hedge if result else False,
            "duration_ms": round((time.perf_counter() - t0) * 1000, 3)})
        with contextlib.suppress(OSError):
            assert self._log_fd is not None
            os.write(self._log_fd, line + b"\n")

    async def _infer(self, request: InferRequest) -> InferResult:
        t0 = time.perf_counter()
        strategy = parse_strategy(request.strategy)
        task = request.task
        validate_payload(task, request.payload)
        flags = self.flags()
        if flags.drain.pool:
            self.metrics.requests.labels(task, strategy.value, "Drained").inc()
            if flags.drain.pool_fallback:
                return InferResult("fallback", strategy.value,
                                   int((time.perf_counter() - t0) * 1000), False,
                                   {"fallback": flags.drain.pool_fallback, "drained": True})
            reason = flags.drain.reason or "no reason given"
            raise Drained(f"the pool is drained for maintenance ({reason}); retry later",
                          task=task)
        budget_ms = deadline_ms(task, request.deadline_ms)
        if flags.pool.heavy_deadline_ms:
            budget_ms = min(budget_ms, flags.pool.heavy_deadline_ms)
        key = cache_key(request.tenant_id, task, strategy.value, request.payload)
        hit = self.cache.get(key, request.tenant_id)
        if hit is not None:
            self.metrics.cache_hits.labels(task).inc()
            self.metrics.requests.labels(task, strategy.value, "cache").inc()
            return InferResult(hit.winner_model, strategy.value,
                               int((time.perf_counter() - t0) * 1000), True, hit.content,
                               deadline_ms=budget_ms)
        self.metrics.cache_misses.labels(task).inc()
        self.hedge_budget.earn()
        loop = asyncio.get_running_loop()
        run = _Run(request, task, loop.time() + budget_ms / 1000, [])
        runner: dict[Strategy, Callable[[_Run], Awaitable[InferResult]]] = {
            Strategy.FASTEST: self._fastest, Strategy.VOTING: self._voting,
            Strategy.WEIGHTED: self._weighted, Strategy.JUDGE: self._judge}
        try:
            if strategy in (Strategy.VOTING, Strategy.JUDGE):  # they keep the deadline
                # themselves, answering with what they hold when it passes
                result = await runner[strategy](run)
            else:
                try:
                    async with asyncio.timeout_at(run.deadline_at):
                        result = await runner[strategy](run)
                except TimeoutError:
                    raise self._deadline(run, budget_ms) from None
        except (ProviderFailed, DeadlineExceeded, NotReady) as exc:
            self.metrics.requests.labels(task, strategy.value, type(exc).__name__).inc()
            self._maybe_snapshot()
            raise
        result.duration_ms = int((time.perf_counter() - t0) * 1000)
        result.deadline_ms = budget_ms
        result.providers_tried = run.tried
        result.hedge = run.hedge
        self.cache.put(key, request.tenant_id, result.content, result.winner_model)
        self.metrics.requests.labels(task, strategy.value, "ok").inc()
        self._maybe_snapshot()
        return result

    def _deadline(self, run: _Run, budget_ms: int) -> DeadlineExceeded:
        return DeadlineExceeded(f"no answer for {run.task} within {budget_ms} ms",
                                task=run.task, deadline_ms=budget_ms, providers=run.tried)

    # -- routing ---------------------------------------------------------------------------
    def usable(self) -> list[Member]:
        disabled = self.enable_state.refresh()
        return [m for m in self.members.values()
                if m.id not in disabled and m.breaker.available()]

    def ranked(self) -> list[Member]:
        """Fastest first: latency estimate x (1 + load); unknown latency goes first (it is
        explored), and so does an estimate older than ``explore_after_s`` with no call in
        flight (one call refreshes it: a provider that was slow once is not left last for
        good); heavier weight breaks ties. Failures do not move a provider down: it keeps
        its place until its breaker opens, so a dead provider is cut off quickly."""
        members = self.usable()
        if not members:
            raise NotReady("no provider is enabled and healthy", providers=list(self.members))
        return sorted(members, key=_score)

    def ready(self) -> bool:
        """At least one provider is enabled and its breaker lets calls through."""
        return bool(self.usable())

    def health_factor(self, m: Member) -> float:
        state = m.breaker.state
        if state is BreakerState.OPEN:
            return 0.0
        factor = 1.0 - m.breaker.error_rate()
        return max(0.05, factor * (0.5 if state is BreakerState.HALF_OPEN else 1.0))

    async def _call(self, run: _Run, member: Member, task: str | None = None,
                    payload: dict[str, Any] | None = None) -> ProviderReply:
        task = task or run.task
        run.tried.append(member.id)
        call = ProviderCall(task, payload if payload is not None else run.request.payload,
                            run.request.max_tokens)
        try:
            reply = await member.provider.complete(call)
        except ProviderFailed as exc:
            self.metrics.provider_errors.labels(member.id, task, exc.reason).inc()
            if exc.reason == "timeout":
                self.metrics.timeouts.labels(member.id, task).inc()
            raise
        except asyncio.CancelledError:
            if asyncio.get_running_loop().time() >= run.deadline_at:
                self.metrics.timeouts.labels(member.id, task).inc()
            raise
        self.metrics.infer_duration_ms.labels(member.id, task).observe(reply.latency_ms)
        return reply

    def _result(self, reply: ProviderReply, strategy: Strategy, **extra: Any) -> InferResult:
        assert reply.content is not None
        return InferResult(reply.model, strategy.value, 0, False, reply.content,
                           reply.tokens_in, reply.tokens_out, winner_provider=reply.provider_id,
                           **extra)

    # -- FASTEST ---------------------------------------------------------------------------
    async def _fastest(self, run: _Run) -> InferResult:
        """The best provider first; a hedge after ``hedge_after_ms`` without an answer (hedge
        budget allowing; a hedge the budget refused is made anyway, once, when half of the
        request's deadline has passed without an answer); every failed call (refused, timed
        out, 5xx, invalid answer) is replaced at once by the next provider whose breaker
        still lets calls through, hedge or no hedge in flight, without spending the hedge
        budget. The first valid answer wins; the calls still running are cancelled (their
        breakers get no verdict). The outer deadline bounds it all; with nobody left to ask,
        ``ProviderFailed``. A provider that answered badly (an invalid answer, a 500, 502 or
        504: ``RETRYABLE``) goes back to the end of the line, once per request: with time
        left, it is asked again after the providers not yet tried."""
        queue = self.ranked()
        retried: set[str] = set()
        hedge_after = (self.flags().pool.hedge_after_ms
                       or self.config.pool.hedge_after_ms) / 1000
        tasks: dict[asyncio.Task[ProviderReply], Member] = {}
        errors: list[ProviderFailed] = []

        def launch() -> bool:
            """Ask the next provider still available (a breaker may have opened since the
            ranking); False when none is left."""
            while queue:
                m = queue.pop(0)
                if m.breaker.available():
                    tasks[asyncio.ensure_future(self._call(run, m))] = m
                    return True
            return False

        loop = asyncio.get_running_loop()
        now = loop.time()
        rescue_at = now + (run.deadline_at - now) / 2  # a refused hedge is deferred to here

        def hedge() -> None:
            run.hedge = True
            self.metrics.hedges.labels(run.task).inc()
            launch()

        try:
            launch()
            may_hedge, refused = True, False
            while tasks:
                timeout = None
                if queue and may_hedge:
                    timeout = hedge_after
                elif queue and refused:
                    timeout = max(0.0, rescue_at - loop.time())
                done, _ = await asyncio.wait(tasks, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:  # a hedge timer fired
                    if may_hedge:
                        if self.hedge_budget.try_spend():
                            hedge()
                        else:
                            may_hedge, refused = False, True
                    elif refused:  # half the deadline gone: the refused hedge, once
                        refused = False
                        hedge()
                    continue
                finished = {t: tasks.pop(t) for t in done}
                winner = next((t for t in finished if t.exception() is None), None)
                if winner is not None:  # the losers are cancelled in `finally`
                    return self._result(winner.result(), Strategy.FASTEST)
                for t, m in finished.items():
                    exc = t.exception()
                    if not isinstance(exc, ProviderFailed):
                        raise exc or RuntimeError("a provider call ended without a reply")
                    errors.append(exc)
                    if exc.reason in RETRYABLE and m.id not in retried:
                        retried.add(m.id)
                        queue.append(m)  # after the providers not yet asked
                    launch()  # fail over at once: a failure is not a hedge
        finally:
            await _cancel(tasks)
        raise _all_failed(run, errors)

    # -- WEIGHTED --------------------------------------------------------------------------
    async def _weighted(self, run: _Run) -> InferResult:
        members = self.ranked()
        order: list[Member] = []
        while members:  # weighted sampling without replacement
            weights = [m.config.weight * self.health_factor(m) for m in members]
            pick = self.rng.choices(range(len(members)), weights=weights)[0]
            order.append(members.pop(pick))
        errors: list[ProviderFailed] = []
        for m in order:
            try:
                return self._result(await self._call(run, m), Strategy.WEIGHTED)
            except ProviderFailed as exc:
                errors.append(exc)
        raise _all_failed(run, errors)

    # -- VOTING ----------------------------------------------------------------------------
    async def _voting(self, run: _Run) -> InferResult:
        k = self.config.pool.voting_k
        members = sorted(self.ranked(), key=lambda m: -m.config.weight)[:k]
        got = await self._gather(run, members, stop_when=_majority_of(len(members)))
        if not got.replies:
            raise got.failure(run, self)
        winner, groups = _pick_group(got.replies, self.members)
        count = len(groups[canonical_json(winner.content)])
        quorum = "majority" if count > len(members) / 2 else "partial"
        group_ids = {c: i for i, c in enumerate(groups)}
        votes = {r.provider_id: group_ids[canonical_json(r.content)] for r in got.replies}
        res = self._result(winner, Strategy.VOTING, quorum=quorum, votes=votes)
        res.tokens_in = sum(r.tokens_in for r in got.replies)
        res.tokens_out = sum(r.tokens_out for r in got.replies)
        return res

    async def _gather(self, run: _Run, members: list[Member],
                      stop_when: Callable[[list[ProviderReply]], bool] | None = None,
                      soft_until: float | None = None) -> _Gathered:
        """Call ``members`` at once and collect valid replies until all are in,
        ``stop_when`` holds, ``soft_until`` has passed with at least one reply, or the
        deadline passes; calls still running then are cancelled."""
        loop = asyncio.get_running_loop()
        tasks = {asyncio.ensure_future(self._call(run, m)): m for m in members}
        got = _Gathered()
        try:
            while tasks:
                now = loop.time()
                if soft_until is not None and now >= soft_until and got.replies:
                    break
                wake = run.deadline_at
                if soft_until is not None and now < soft_until:
                    wake = soft_until
                if now >= run.deadline_at:
                    got.timed_out = True
                    break
                done, _ = await asyncio.wait(tasks, timeout=wake - now,
                                             return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    tasks.pop(t)
                    exc = t.exception()
                    if exc is None:
                        got.replies.append(t.result())
                    elif isinstance(exc, ProviderFailed):
                        got.errors.append(exc)
                    else:
                        raise exc
                if stop_when and stop_when(got.replies):
                    break
        finally:
            await _cancel(tasks)
        return got

    # -- JUDGE -----------------------------------------------------------------------------
    async def _judge(self, run: _Run) -> InferResult:
        """Runs without the outer deadline guard: at the deadline it answers with the
        candidates it holds (heaviest group) instead of failing, like VOTING's quorum."""
        members = self.ranked()
        judge = self._judge_member(members)
        others = [m for m in members if m is not judge] or members
        others = sorted(others, key=lambda m: -m.config.weight)[:self.config.pool.voting_k]
        loop = asyncio.get_running_loop()
        # Candidates get 60 % of the time left (longer only while none has answered).
        soft = loop.time() + 0.6 * (run.deadline_at - loop.time())
        got = await self._gather(run, others, soft_until=soft)
        if not got.replies:
            raise got.failure(run, self)
        replies = got.replies
        winner, groups = _pick_group(replies, self.members)
        tokens_in = sum(r.tokens_in for r in replies)
        tokens_out = sum(r.tokens_out for r in replies)
        judged_by = None
        if len(groups) > 1 and judge is not None:
            distinct = [next(r for r in replies if canonical_json(r.content) == c) for c in groups]
            try:
                async with asyncio.timeout_at(run.deadline_at):
                    verdict = await self._call(run, judge, "judge", _judge_payload(run, distinct))
                assert verdict.content is not None
                winner = distinct[int(verdict.content["winner_id"][1:])]
                judged_by = verdict.model
                tokens_in += verdict.tokens_in
                tokens_out += verdict.tokens_out
            except (ProviderFailed, TimeoutError):
                judged_by = None  # the judge failed or ran out of time: the heaviest group
        res = self._result(winner, Strategy.JUDGE, judge_model=judged_by)
        res.tokens_in, res.tokens_out = tokens_in, tokens_out
        return res

    def _judge_member(self, members: list[Member]) -> Member | None:
        name = self.config.pool.judge
        if name is not None:
            return next((m for m in members if m.id == name), None)
        return max(members, key=lambda m: m.config.weight) if len(members) > 1 else None

    # -- health ----------------------------------------------------------------------------
    def health(self) -> list[ProviderHealth]:
        disabled = self.enable_state.refresh()
        rank = {m.id: i for i, m in enumerate(sorted(self.usable(), key=_score))}
        out = []
        for m in self.members.values():
            s = m.stats.snapshot()
            out.append(ProviderHealth(
                m.id, m.config.model, m.config.kind, m.config.base_url, m.id not in disabled,
                m.breaker.state.value, _round(s.p50_ms), _round(s.p95_ms),
                round(m.breaker.error_rate(), 4), s.calls, s.failures, s.in_flight,
                ewma_ms=_round(s.ewma_ms), rank=rank.get(m.id),
                breaker_opens=sum(1 for t in m.breaker.transitions
                                  if t.after is BreakerState.OPEN)))
        return out

    async def probe(self) -> dict[str, float | None]:
        """Ping every provider once: latency in ms, or None when it does not answer."""
        async def one(m: Member) -> float | None:
            try:
                return await m.provider.ping()
            except ProviderFailed:
                return None
        values = await asyncio.gather(*(one(m) for m in self.members.values()))
        return dict(zip(self.members, values, strict=True))

    def _maybe_snapshot(self) -> None:
        """A running pool leaves its health in ``pool/health.json`` (at most once a second,
        and at once after a breaker opened) for ``vvtvctl pool health`` and the load-window
        observers."""
        now = self.clock.monotonic()
        if (now - self._last_snapshot < 1.0 and not self._snapshot_due) \
                or self.folder is None or not self.folder.exists():
            return
        self._last_snapshot, self._snapshot_due = now, False
        data = {"written_utc": self.clock.now().isoformat(),
                "providers": [h.__dict__ for h in self.health()]}
        atomic_write(self.folder / "health.json", json.dumps(data, indent=1), durable=False)


def _score(m: Member) -> tuple[float, float]:
    """FASTEST's order (``Pool.ranked``): latency estimate x (1 + load), then weight; a stale
    estimate with nothing in flight counts as unknown (0), so that one call explores it."""
    s = m.stats
    est = s.ewma_ms or 0.0
    if s.in_flight == 0 and s.stale():
        est = 0.0
    return est * (1 + s.in_flight / m.config.max_concurrency), -m.config.weight


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _majority_of(k: int) -> Callable[[list[ProviderReply]], bool]:
    def reached(replies: list[ProviderReply]) -> bool:
        counts: dict[str, int] = {}
        for r in replies:
            c = canonical_json(r.content)
            counts[c] = counts.get(c, 0) + 1
            if counts[c] > k / 2:
                return True
        return False
    return reached


def _pick_group(replies: list[ProviderReply], members: dict[str, Member]
                ) -> tuple[ProviderReply, dict[str, list[ProviderReply]]]:
    """The largest group of identical answers; ties go to the larger total weight, then
    to the heavier single provider."""
    groups: dict[str, list[ProviderReply]] = {}
    for r in replies:
        groups.setdefault(canonical_json(r.content), []).append(r)

    def weight(r: ProviderReply) -> float:
        return members[r.provider_id].config.weight

    best = max(groups.values(), key=lambda g: (len(g), sum(weight(r) for r in g),
                                               max(weight(r) for r in g)))
    return max(best, key=weight), groups


def _judge_payload(run: _Run, distinct: list[ProviderReply]) -> dict[str, Any]:
    question = (f"Which answer best fulfils the {run.task} task for this payload: "
                f"{canonical_json(run.request.payload)}")[:500]
    return {"query": question,
            "candidates": [{"id": f"c{i}", "text": canonical_json(r.content)[:2000]}
                           for i, r in enumerate(distinct)],
            "criteria": ["valid", "specific", "useful for the station"]}


def _all_failed(run: _Run, errors: list[ProviderFailed]) -> ProviderFailed:
    reasons = sorted({f"{e.context.get('provider')}: {e.reason}" for e in errors})
    return ProviderFailed(f"every provider tried for {run.task} failed ({'; '.join(reasons)})",
                          reason="all_failed", providers=run.tried)


async def _cancel(tasks: dict[asyncio.Task[ProviderReply], Member]) -> None:
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
