"""The provider port and its adapters.

``Provider`` is the port: ``complete(call) -> ProviderReply``, ``ping()``, ``aclose()``.
Adapters: ``OllamaProvider`` (``/api/chat`` or ``/api/generate`` with ``format: "json"``,
``stream: false``) and ``OpenAIProvider`` (``/v1/chat/completions``), each with one shared
``aiohttp.ClientSession`` (a keep-alive connection pool per provider; aiohttp's client
spends a fraction of httpx's CPU per call, see the README's API benchmark). Wrappers
implement the same port: ``LimitedProvider`` (concurrency limit), ``SanitizingProvider``
(strict JSON, so an invalid answer is the provider's failure) and ``BreakerProvider``
(circuit breaker and counters).
Every transport error, non-2xx status and malformed body becomes ``ProviderFailed`` here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

import aiohttp
import orjson
from yarl import URL

from vvtvlib.core.trace import HEADER as TRACE_HEADER
from vvtvlib.core.trace import current_trace

from .breaker import CircuitBreaker
from .config import ProviderConfig
from .errors import ProviderFailed
from .routing import ProviderStats
from .sanitize import InvalidOutput, sanitize
from .tasks import build_messages, build_prompt


@dataclass(frozen=True)
class ProviderCall:
    task: str
    payload: dict[str, Any]
    max_tokens: int | None = None


@dataclass(frozen=True)
class ProviderReply:
    provider_id: str
    model: str
    text: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    content: dict[str, Any] | None = None


class Provider(Protocol):
    id: str
    model: str

    async def complete(self, call: ProviderCall) -> ProviderReply: ...

    async def ping(self) -> float: ...

    async def aclose(self) -> None: ...


class _HTTPStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@contextmanager
def _boundary(provider_id: str) -> Iterator[None]:
    """Translate the transport's errors into ``ProviderFailed`` with a reason."""
    try:
        yield
    except TimeoutError as exc:  # aiohttp's timeouts (ServerTimeoutError is one too)
        raise ProviderFailed(f"provider {provider_id} timed out", provider=provider_id,
                             reason="timeout") from exc
    except _HTTPStatus as exc:
        code = exc.status
        raise ProviderFailed(f"provider {provider_id} answered HTTP {code}",
                             provider=provider_id, reason=f"http_{code}") from exc
    except aiohttp.ClientError as exc:
        raise ProviderFailed(f"provider {provider_id} is unreachable",
                             provider=provider_id, reason="unreachable") from exc
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ProviderFailed(f"provider {provider_id} sent a malformed response",
                             provider=provider_id, reason="bad_response") from exc


class _HTTPProvider:
    """One ``aiohttp.ClientSession`` per provider: a keep-alive pool of at most
    ``max_concurrency`` connections, a whole-call timeout of ``timeout_ms``, no proxy from
    the environment, no redirects. The session is made on first use inside the running
    event loop (and again if the provider is used from another loop)."""

    PING_PATH = "/"

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.id = config.id
        self.model = config.model
        self.base_url = config.base_url.rstrip("/")
        self.timeout_s = config.timeout_ms / 1000
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._urls: dict[str, URL] = {}

    def _url(self, path: str) -> URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(self.base_url + path)
        return url

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.config.max_concurrency,
                                             keepalive_timeout=30, ttl_dns_cache=60)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                trust_env=False, skip_auto_headers=("User-Agent",))
            self._loop = loop
        return self._session

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        ctx = current_trace()  # W3C trace context: the provider call is a child span
        headers = {"Content-Type": "application/json"}
        if ctx is not None:
            headers[TRACE_HEADER] = ctx.child().header()
        async with self.session().post(self._url(path), data=orjson.dumps(body),
                                       headers=headers, allow_redirects=False) as resp:
            raw = await resp.read()
            if not 200 <= resp.status < 300:
                raise _HTTPStatus(resp.status)
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("response is not a JSON object")
        return data

    async def ping(self) -> float:
        t0 = time.perf_counter()
        with _boundary(self.id):
            async with self.session().get(
                    self._url(self.PING_PATH), allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=min(2.0, self.timeout_s))) as resp:
                await resp.read()
                if not 200 <= resp.status < 300:
                    raise _HTTPStatus(resp.status)
        return (time.perf_counter() - t0) * 1000

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is \
                asyncio.get_running_loop():
            await session.close()


class OllamaProvider(_HTTPProvider):
    """The Ollama HTTP API (also a real Ollama): chat or generate, JSON format, no stream."""

    PING_PATH = "/api/tags"

    async def complete(self, call: ProviderCall) -> ProviderReply:
        t0 = time.perf_counter()
        options: dict[str, Any] = {"temperature": 0}
        if call.max_tokens:
            options["num_predict"] = call.max_tokens
        with _boundary(self.id):
            if self.config.ollama_api == "generate":
                data = await self._post("/api/generate", {
                    "model": self.model, "prompt": build_prompt(call.task, call.payload),
                    "format": "json", "stream": False, "options": options})
                text = data["response"]
            else:
                data = await self._post("/api/chat", {
                    "model": self.model, "messages": build_messages(call.task, call.payload),
                    "format": "json", "stream": False, "options": options})
                text = data["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not text")
            return ProviderReply(self.id, self.model, text, int(data.get("prompt_eval_count", 0)),
                                 int(data.get("eval_count", 0)),
                                 (time.perf_counter() - t0) * 1000)


class OpenAIProvider(_HTTPProvider):
    """An OpenAI-compatible ``/v1/chat/completions`` (vLLM, llama.cpp server, the emulator)."""

    PING_PATH = "/v1/models"

    async def complete(self, call: ProviderCall) -> ProviderReply:
        t0 = time.perf_counter()
        body: dict[str, Any] = {"model": self.model,
                                "messages": build_messages(call.task, call.payload),
                                "temperature": 0, "stream": False,
                                "response_format": {"type": "json_object"}}
        if call.max_tokens:
            body["max_tokens"] = call.max_tokens
        with _boundary(self.id):
            data = await self._post("/v1/chat/completions", body)
            text = data["choices"][0]["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not text")
            usage = data.get("usage") or {}
            return ProviderReply(self.id, self.model, text, int(usage.get("prompt_tokens", 0)),
                                 int(usage.get("completion_tokens", 0)),
                                 (time.perf_counter() - t0) * 1000)


def make_adapter(config: ProviderConfig) -> Provider:
    return OllamaProvider(config) if config.kind == "ollama" else OpenAIProvider(config)


class _Wrapper:
    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.id = inner.id
        self.model = inner.model

    async def ping(self) -> float:
        return await self.inner.ping()

    async def aclose(self) -> None:
        await self.inner.aclose()


class LimitedProvider(_Wrapper):
    """At most ``limit`` calls in flight to the provider; others wait their turn."""

    def __init__(self, inner: Provider, limit: int) -> None:
        super().__init__(inner)
        self.limit = limit
        self._sem = asyncio.Semaphore(limit)

    async def complete(self, call: ProviderCall) -> ProviderReply:
        async with self._sem:
            return await self.inner.complete(call)


class SanitizingProvider(_Wrapper):
    """Only a valid answer leaves: the reply carries its sanitized ``content``."""

    async def complete(self, call: ProviderCall) -> ProviderReply:
        reply = await self.inner.complete(call)
        try:
            content = sanitize(call.task, call.payload, reply.text)
        except InvalidOutput as exc:
            raise ProviderFailed(f"provider {self.id} gave an invalid answer: {exc.reason}",
                                 provider=self.id, reason="invalid_output") from None
        return replace(reply, content=content)


class BreakerProvider(_Wrapper):
    """Refuses calls while the breaker is open; records every outcome in breaker and stats."""

    def __init__(self, inner: Provider, breaker: CircuitBreaker, stats: ProviderStats) -> None:
        super().__init__(inner)
        self.breaker, self.stats = breaker, stats

    async def complete(self, call: ProviderCall) -> ProviderReply:
        if not self.breaker.acquire():
            raise ProviderFailed(f"provider {self.id}'s circuit breaker is open",
                                 provider=self.id, reason="breaker_open")
        self.stats.started()
        t0 = time.perf_counter()
        try:
            reply = await self.inner.complete(call)
        except ProviderFailed:
            self.stats.failed()
            self.breaker.record_failure()
            raise
        except BaseException:  # cancelled (hedge loser, deadline) or a bug: no verdict
            self.stats.was_cancelled((time.perf_counter() - t0) * 1000)
            self.breaker.release()
            raise
        self.stats.succeeded(reply.latency_ms)
        self.breaker.record_success()
        return reply
