"""An in-memory provider adapter for strategy tests (the port's test double, like httpx's
``MockTransport``): scripted latency, failures and answers, with a record of calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vvtvlib.pool.config import PoolConfig, ProviderConfig
from vvtvlib.pool.emulator.content import content_for
from vvtvlib.pool.errors import ProviderFailed
from vvtvlib.pool.providers import ProviderCall, ProviderReply


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when every task is waiting for a timer: it then
    jumps to the next timer at once. Deadlines, soft deadlines and scripted latencies keep
    their order whatever the machine's load (a process stalled for 300 ms no longer eats a
    200 ms deadline before the first provider call has even started), and a test waits for
    no real time. For in-memory providers only: real sockets keep real time."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        loop: Any = self
        real = loop._selector  # the loop's own selector, wrapped below

        class _Selector:
            def select(self, timeout: float | None = None) -> Any:
                events = real.select(0 if timeout is not None else None)
                if not events and timeout:
                    loop._now += timeout  # nothing ready: skip to the next timer
                return events

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        loop._selector = _Selector()

    def time(self) -> float:
        return self._now


def run_in_virtual_time(coro: Any) -> Any:
    """``asyncio.run`` on a ``VirtualTimeLoop``."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coro)


@dataclass
class ScriptedProvider:
    id: str
    model: str
    latency_ms: float = 0.0
    fail: bool = False
    text: Callable[[ProviderCall], str] | None = None
    calls: int = 0
    cancelled: int = 0
    in_flight: int = 0
    peak: int = 0
    log: list[str] = field(default_factory=list)

    async def complete(self, call: ProviderCall) -> ProviderReply:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.log.append(call.task)
        try:
            if self.latency_ms:
                await asyncio.sleep(self.latency_ms / 1000)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        if self.fail:
            raise ProviderFailed(f"{self.id} failed", provider=self.id, reason="http_500")
        text = self.text(call) if self.text else json.dumps(
            content_for(self.model, call.task, call.payload))
        return ProviderReply(self.id, self.model, text, 10, 5, self.latency_ms)

    async def ping(self) -> float:
        return 0.0

    async def aclose(self) -> None:
        return None


def scripted_config(providers: list[ScriptedProvider], weights: list[float] | None = None,
                    **sections: dict[str, object]) -> PoolConfig:
    return PoolConfig.model_validate({**sections, "providers": [
        ProviderConfig(id=p.id, base_url="http://127.0.0.1:9", model=p.model,
                       weight=(weights[i] if weights else 1.0)).model_dump()
        for i, p in enumerate(providers)]})


def payload_where(task: str, agree: bool, make: Callable[[int], dict[str, Any]]
                  ) -> dict[str, Any]:
    """The first generated payload on which models agree (or disagree)."""
    from vvtvlib.pool.emulator.content import agrees

    for i in range(200):
        p = make(i)
        if agrees(task, p) is agree:
            return p
    raise AssertionError("no such payload in 200 tries")
