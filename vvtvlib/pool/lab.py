"""A lab pool: emulated models in their own processes and a pool over them, driven
synchronously (its own event loop), with a journal of every request for plots and checks.
The drill notebook, the acceptance features and the benchmark all use it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from vvtvlib.core.clock import SYSTEM_CLOCK

from .config import providers_path, write_pool_config
from .emulator.process import EmulatorProcess, config_for, start_emulators, stop_all
from .errors import PoolError
from .pool import Pool
from .records import InferRequest, InferResult
from .tasks import TASKS, check_content

LAB_MODELS = "phi3-mini@8:15,qwen-7b@20:35,gemma-9b@40:70"
T = TypeVar("T")


def parse_models(spec: str) -> list[tuple[str, str]]:
    """``"a@8:15,b@20:35"`` -> [("a", "8:15"), ("b", "20:35")] (latency MEDIAN:P95 ms)."""
    out = []
    for item in spec.split(","):
        name, _, latency = item.strip().partition("@")
        out.append((name, latency or "0"))
    return out


def sample_payload(task: str, i: int = 0) -> dict[str, Any]:
    """A valid payload for ``task``; ``i`` varies it (different cache keys, answers)."""
    cands = [{"id": f"v{j}", "text": f"programme {j} about topic {i}"} for j in range(10)]
    payloads: dict[str, dict[str, Any]] = {
        "expand_queries": {"seed": f"jazz documentary {i}", "max_queries": 4},
        "judge": {"query": f"best programme on topic {i}", "candidates": cands[:4]},
        "rerank_candidates": {"query": f"topic {i}", "candidates": cands, "top_k": 5},
        "enrich_metadata": {"title": f"Night concert {i}", "duration_sec": 3600},
        "recovery_plan": {"incident": f"encoder stalled {i}", "service": "encoder",
                          "symptoms": ["no new segments"]},
    }
    return payloads[task]


@dataclass
class Outcome:
    at_s: float
    task: str
    strategy: str
    ok: bool
    duration_ms: float
    code: str | None = None
    winner_model: str | None = None
    hedge: bool = False
    from_cache: bool = False
    providers_tried: list[str] = field(default_factory=list)
    quorum: str | None = None
    tasks_left: int = 0
    valid: bool | None = None  # the content satisfies the task's schema and rules

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _tasks_left() -> int:
    return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])


class PoolLab:
    def __init__(self, models: str | list[tuple[str, str]] = LAB_MODELS, *,
                 kind: str = "ollama", root: str | Path | None = None,
                 pool: dict[str, Any] | None = None, breaker: dict[str, Any] | None = None,
                 error_rate: float = 0.0, messy_rate: float = 0.0,
                 emulators: list[EmulatorProcess] | None = None) -> None:
        """``emulators``: running ones to use (not stopped by ``close``) instead of new ones."""
        self.specs = parse_models(models) if isinstance(models, str) else models
        self.kind, self.root = kind, root
        self.pool_settings, self.breaker_settings = pool or {}, breaker or {}
        self.error_rate, self.messy_rate = error_rate, messy_rate
        self.emulators: list[EmulatorProcess] = list(emulators or [])
        self.owns_emulators = emulators is None
        self.journal: list[Outcome] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="pool-lab",
                                        daemon=True)
        self.pool: Pool | None = None
        self.t0 = SYSTEM_CLOCK.monotonic()

    def start(self) -> PoolLab:
        if self.owns_emulators:
            self.emulators = start_emulators(self.specs, error_rate=self.error_rate,
                                             messy_rate=self.messy_rate)
        cfg = config_for(self.emulators, kind=self.kind, pool=self.pool_settings,
                         breaker=self.breaker_settings)
        if self.root is not None:  # so `vvtvctl pool ... --root` sees this lab
            write_pool_config(providers_path(self.root), cfg)
        self._thread.start()
        self.pool = Pool(cfg, root=self.root)
        self.t0 = SYSTEM_CLOCK.monotonic()
        return self

    def __enter__(self) -> PoolLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the lab's loop (its own thread, so this works inside Jupyter)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self.pool is not None and self._thread.is_alive():
            self.run(self.pool.aclose())
        self.pool = None
        if self.owns_emulators:
            stop_all(self.emulators)
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
        if not self.loop.is_closed() and not self.loop.is_running():
            self.loop.close()

    def emulator(self, model: str) -> EmulatorProcess:
        return next(em for em in self.emulators if em.model == model)

    # -- requests --------------------------------------------------------------------------
    def infer(self, task: str, payload: dict[str, Any], strategy: str = "FASTEST",
              tenant: str = "lab", deadline_ms: int | None = None) -> InferResult:
        """One request; the pool's errors propagate."""
        assert self.pool is not None, "start() first"
        req = InferRequest(task, payload, strategy, tenant, deadline_ms)
        return self.run(self.pool.infer(req))

    def attempt(self, task: str, payload: dict[str, Any], strategy: str = "FASTEST",
                tenant: str = "lab", deadline_ms: int | None = None) -> Outcome:
        """One request recorded in the journal, error or not."""
        at = SYSTEM_CLOCK.monotonic() - self.t0
        t = time.perf_counter()
        try:
            r = self.infer(task, payload, strategy, tenant, deadline_ms)
            o = Outcome(at, task, strategy, True, (time.perf_counter() - t) * 1000, None,
                        r.winner_model, r.hedge, r.from_cache, r.providers_tried, r.quorum,
                        valid=check_content(task, payload, r.content) is None)
        except PoolError as exc:
            o = Outcome(at, task, strategy, False, (time.perf_counter() - t) * 1000, exc.code)
        o.tasks_left = self.run(_tasks_left())
        self.journal.append(o)
        return o

    def matrix(self, strategies: Iterable[str], tasks: Iterable[str] = TASKS, n: int = 3,
               deadline_ms: int | None = None) -> list[Outcome]:
        """Every strategy on every task, ``n`` distinct payloads each."""
        return [self.attempt(task, sample_payload(task, i), s, deadline_ms=deadline_ms)
                for s in strategies for task in tasks for i in range(n)]

    # -- timelines -------------------------------------------------------------------------
    def breaker_timeline(self) -> list[dict[str, Any]]:
        assert self.pool is not None
        return sorted(({"at_s": round(tr.at - self.t0, 3), "provider": m.id,
                        "before": tr.before.value, "after": tr.after.value, "why": tr.why}
                       for m in self.pool.members.values() for tr in m.breaker.transitions),
                      key=lambda row: row["at_s"])

    def hedge_timeline(self) -> list[dict[str, Any]]:
        return [{"at_s": round(o.at_s, 3), "hedge": o.hedge, "winner": o.winner_model,
                 "duration_ms": round(o.duration_ms, 1)} for o in self.journal if o.ok]
