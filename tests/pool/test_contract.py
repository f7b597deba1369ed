"""One contract for every provider adapter (Ollama chat, Ollama generate, OpenAI-compatible),
run against a real emulator; plus the package's layer and public surface, and its metrics."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import vvtvlib.pool
from vvtvlib.pool.config import ProviderConfig
from vvtvlib.pool.emulator import EmulatorProcess, free_port
from vvtvlib.pool.errors import ProviderFailed
from vvtvlib.pool.providers import OllamaProvider, OpenAIProvider, Provider, ProviderCall
from vvtvlib.pool.sanitize import sanitize

ADAPTERS = {
    "ollama-chat": lambda url, **kw: OllamaProvider(ProviderConfig(
        id="p", kind="ollama", base_url=url, model="fast", **kw)),
    "ollama-generate": lambda url, **kw: OllamaProvider(ProviderConfig(
        id="p", kind="ollama", base_url=url, model="fast", ollama_api="generate", **kw)),
    "openai": lambda url, **kw: OpenAIProvider(ProviderConfig(
        id="p", kind="openai", base_url=url, model="fast", **kw)),
}
CALL = ProviderCall("recovery_plan", {"incident": "playlist stale", "service": "encoder"})


def _run(provider: Provider, coro_fn: str, *args: object) -> object:
    async def go() -> object:
        try:
            return await getattr(provider, coro_fn)(*args)
        finally:
            await provider.aclose()
    return asyncio.run(go())


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_complete_returns_text_and_real_token_counts(name: str,
                                                     trio: list[EmulatorProcess]) -> None:
    reply = _run(ADAPTERS[name](trio[0].base_url), "complete", CALL)
    assert reply.provider_id == "p" and reply.model == "fast"  # type: ignore[attr-defined]
    assert sanitize(CALL.task, CALL.payload, reply.text)  # type: ignore[attr-defined]
    assert reply.tokens_in > 50 and reply.tokens_out > 5  # type: ignore[attr-defined]
    assert _run(ADAPTERS[name](trio[0].base_url), "ping") >= 0  # type: ignore[operator]


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_errors_are_translated_at_the_boundary(name: str, trio: list[EmulatorProcess]) -> None:
    em = trio[1]
    cases = [(f"http://127.0.0.1:{free_port()}", {}, "unreachable")]
    try:
        em.faults(down=True)
        with pytest.raises(ProviderFailed) as err:
            _run(ADAPTERS[name](em.base_url), "complete", CALL)
        assert err.value.reason == "http_503"
        em.faults(down=False, hang=True)
        cases.append((em.base_url, {"timeout_ms": 100}, "timeout"))
        for url, kw, reason in cases:
            with pytest.raises(ProviderFailed) as err:
                _run(ADAPTERS[name](url, **kw), "complete", CALL)
            assert err.value.reason == reason and err.value.http_status == 502
    finally:
        em.clear_faults()


def test_the_pool_imports_only_core() -> None:
    root = Path(vvtvlib.pool.__file__).parent
    bad = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mod = node.module
                if mod.startswith("vvtvlib.") and not mod.startswith(("vvtvlib.core",
                                                                       "vvtvlib.pool")):
                    bad.append(f"{path.name}: {mod}")
    assert not bad


INTENDED = {
    "TASKS", "AnswerCache", "BreakerState", "CircuitBreaker", "DeadlineExceeded",
    "InferRequest", "InferResult", "InvalidOutput", "NotReady", "OllamaProvider",
    "OpenAIProvider", "Pool", "PoolConfig", "PoolError", "Provider", "ProviderCall",
    "ProviderConfig", "ProviderFailed", "ProviderHealth", "ProviderReply", "SchemaInvalid",
    "Strategy", "Task", "cache_key", "lab_config", "load_pool_config", "providers_path",
    "sanitize", "schema_files",
}


def test_public_surface_is_the_intended_one() -> None:
    assert set(vvtvlib.pool.__all__) == INTENDED
    assert all(hasattr(vvtvlib.pool, name) for name in INTENDED)


def test_metrics_are_recorded(trio: list[EmulatorProcess]) -> None:
    from vvtvlib.pool import InferRequest, Pool
    from vvtvlib.pool.emulator.process import config_for

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = value("llmpool_infer_duration_ms_count", provider="fast", task="judge")
    misses = value("llmpool_cache_misses_total", task="judge")
    hits = value("llmpool_cache_hits_total", task="judge")
    payload = {"query": "metrics", "candidates": [{"id": "a", "text": "x"}]}

    async def go() -> None:
        async with Pool(config_for(trio[:1])) as pool:
            for _ in range(2):
                await pool.infer(InferRequest("judge", payload, tenant_id="metrics"))
    asyncio.run(go())
    assert value("llmpool_infer_duration_ms_count", provider="fast", task="judge") == before + 1
    assert value("llmpool_cache_misses_total", task="judge") == misses + 1
    assert value("llmpool_cache_hits_total", task="judge") == hits + 1
