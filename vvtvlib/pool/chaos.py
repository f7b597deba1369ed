"""Chaos Toolkit activities for the pool (``chaos/pool-provider-down.json``).

Plain functions taking primitives; Chaos Toolkit passes JSON arguments and records what they
return in its journal. The experiment breaks a provider with its emulator's ``/_faults``
endpoint (Chaos Toolkit's HTTP provider, or ``break_provider`` here) and checks that the
pool still answers.

    actions: break_provider(base_url, down, latency_ms, error_rate, hang), heal_provider
    probes:  pool_answers(root, task, strategy, deadline_ms)
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from .lab import sample_payload
from .pool import Pool
from .records import InferRequest
from .tasks import check_content

__all__ = ["break_provider", "heal_provider", "pool_answers"]


def break_provider(base_url: str, down: bool = False, latency_ms: float = 0.0,
                   error_rate: float = 0.0, hang: bool = False) -> dict[str, Any]:
    resp = httpx.post(f"{base_url.rstrip('/')}/_faults", timeout=5, json={
        "down": down, "latency_ms": latency_ms, "error_rate": error_rate, "hang": hang})
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def heal_provider(base_url: str) -> dict[str, Any]:
    resp = httpx.delete(f"{base_url.rstrip('/')}/_faults", timeout=5)
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def pool_answers(root: str, task: str = "expand_queries", strategy: str = "FASTEST",
                 deadline_ms: int | None = None) -> bool:
    """True when the pool at ``root`` answers one request with valid content (a fresh
    payload each time, so the cache cannot answer for it); the pool's error otherwise."""
    import uuid

    payload = sample_payload(task, int(uuid.uuid4().int % 10**6))

    async def go() -> bool:
        async with Pool.from_root(root) as pool:
            res = await pool.infer(InferRequest(task, payload, strategy, "chaos", deadline_ms))
            return check_content(task, payload, res.content) is None
    return asyncio.run(go())
