"""The provider emulator: an ASGI app speaking the Ollama HTTP API and the OpenAI-compatible
``/v1/chat/completions``, with a latency profile, errors, messy output and a fault endpoint.

``/_faults``: ``GET`` shows the faults, ``POST {"down", "latency_ms", "error_rate", "hang"}``
sets some of them, ``DELETE`` clears them all. ``down`` answers 503; ``latency_ms`` adds to
every answer; ``error_rate`` adds 500s; ``hang`` never answers.

The app is plain ASGI under uvicorn (uvloop, httptools) with orjson bodies: a benchmark's
provider at 0 ms must cost its caller's machine as little as a real remote model would, so
there is no framework between the socket and the handlers (a route table, one body reader,
one JSON writer). Token counts cache the prompt's repeated lines (the system prompt).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from ..tokens import count_tokens
from .content import content_for, messy, parse_prompt

Z95 = 1.6448536269514722
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class EmulatorSettings:
    model: str
    latency_median_ms: float = 0.0
    latency_p95_ms: float = 0.0
    error_rate: float = 0.0
    messy_rate: float = 0.0
    seed: int | None = None

    def sample_latency_ms(self, rng: random.Random) -> float:
        """Log-normal with the given median and 95th percentile."""
        if self.latency_median_ms <= 0:
            return 0.0
        p95 = max(self.latency_p95_ms, self.latency_median_ms)
        sigma = math.log(p95 / self.latency_median_ms) / Z95
        return float(self.latency_median_ms * math.exp(sigma * rng.gauss(0.0, 1.0)))


@dataclass
class Faults:
    down: bool = False
    latency_ms: float = 0.0
    error_rate: float = 0.0
    hang: bool = False

    def update(self, data: dict[str, Any]) -> None:
        for key in ("down", "hang"):
            if key in data:
                setattr(self, key, bool(data[key]))
        if "latency_ms" in data:
            self.latency_ms = max(0.0, float(data["latency_ms"]))
        if "error_rate" in data:
            self.error_rate = min(1.0, max(0.0, float(data["error_rate"])))


@dataclass
class _State:
    settings: EmulatorSettings
    faults: Faults = field(default_factory=Faults)
    rng: random.Random = field(default_factory=random.Random)
    calls: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=4096)
def _line_tokens(line: str) -> int:
    return count_tokens(line)


def prompt_tokens(text: str) -> int:
    """``count_tokens(text)``, line by line (a token never spans a newline), with the short
    lines that repeat from call to call (the system prompt) counted once."""
    return sum(_line_tokens(line) if len(line) <= 4096 else count_tokens(line)
               for line in text.split("\n"))


@dataclass(frozen=True)
class Reply:
    """One response: a whole JSON body, or a stream of chunks."""

    status: int
    body: bytes = b""
    content_type: bytes = b"application/json"
    chunks: AsyncIterator[bytes] | None = None


def _json(data: Any, status: int = 200) -> Reply:
    return Reply(status, orjson.dumps(data))


class NotJSON(ValueError):
    pass


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NotJSON("request body is not JSON") from None
    if not isinstance(data, dict):
        raise NotJSON("request body is not a JSON object")
    return data


class EmulatorApp:
    """The emulator's routes as one ASGI callable (``create_app`` builds it)."""

    def __init__(self, settings: EmulatorSettings) -> None:
        seed = settings.seed if settings.seed is not None else sum(settings.model.encode())
        self.settings = settings
        self.state = _State(settings, rng=random.Random(seed))
        self.routes: dict[str, dict[str, Callable[[bytes, str], Awaitable[Reply]]]] = {
            "/api/tags": {"GET": self.api_tags},
            "/api/chat": {"POST": self.api_chat},
            "/api/generate": {"POST": self.api_generate},
            "/v1/chat/completions": {"POST": self.openai_chat},
            "/v1/models": {"GET": self.openai_models},
            "/_faults": {"GET": self.faults, "POST": self.faults, "DELETE": self.faults},
        }

    # -- ASGI -------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        methods = self.routes.get(scope["path"])
        method = scope["method"]
        head = method == "HEAD"
        handler = methods.get("GET" if head else method) if methods else None
        if handler is None:
            status = 404 if methods is None else 405
            await _send(send, Reply(status, b"Not Found" if status == 404 else
                                    b"Method Not Allowed", b"text/plain; charset=utf-8"),
                        allow=", ".join(methods) if methods else None)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            reply = await handler(body, method)
        except NotJSON as exc:
            reply = _json({"error": str(exc)}, 400)
        await _send(send, reply, head=head)

    # -- model calls ------------------------------------------------------------------------
    async def before_answer(self) -> Reply | None:
        """Faults, latency and random errors, in that order; a reply when the call fails."""
        state, settings = self.state, self.settings
        state.calls += 1
        if state.faults.down:
            return _json({"error": f"model {settings.model} is unavailable"}, 503)
        if state.faults.hang:
            await asyncio.Event().wait()
        delay = settings.sample_latency_ms(state.rng) + state.faults.latency_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if state.rng.random() < max(settings.error_rate, state.faults.error_rate):
            return _json({"error": "internal error while running the model"}, 500)
        return None

    def answer_text(self, prompt: str) -> str:
        parsed = parse_prompt(prompt)
        if parsed is None:
            return "I can only answer the station's tasks."
        task, payload = parsed
        content = content_for(self.settings.model, task, payload)
        text = json.dumps(content)
        if self.state.rng.random() < self.settings.messy_rate:
            text = messy(self.state.rng, text, content)
        return text

    async def api_chat(self, raw: bytes, _: str) -> Reply:
        return await self.ollama(_object(raw), chat=True)

    async def api_generate(self, raw: bytes, _: str) -> Reply:
        return await self.ollama(_object(raw), chat=False)

    async def ollama(self, body: dict[str, Any], chat: bool) -> Reply:
        started = time.perf_counter()
        if chat:
            prompt = _joined(body.get("messages"))
        else:
            prompt = "\n\n".join(p for p in (str(body.get("system") or ""),
                                             str(body.get("prompt") or "")) if p)
        failed = await self.before_answer()
        if failed is not None:
            return failed
        text = self.answer_text(prompt)
        head = {"model": body.get("model", self.settings.model), "created_at": _now()}

        def piece(chunk: str) -> dict[str, Any]:
            if chat:
                return {**head, "message": {"role": "assistant", "content": chunk}}
            return {**head, "response": chunk}

        def counts() -> dict[str, Any]:
            total = int((time.perf_counter() - started) * 1e9)
            return {"done": True, "done_reason": "stop", "total_duration": total,
                    "load_duration": 0, "prompt_eval_count": prompt_tokens(prompt),
                    "prompt_eval_duration": total // 4, "eval_count": count_tokens(text),
                    "eval_duration": total - total // 4}

        if body.get("stream", True) is False:
            return _json({**piece(text), **counts()})

        async def lines() -> AsyncIterator[bytes]:
            for i in range(0, len(text), 16):
                yield orjson.dumps({**piece(text[i:i + 16]), "done": False}) + b"\n"
            yield orjson.dumps({**piece(""), **counts()}) + b"\n"

        return Reply(200, content_type=b"application/x-ndjson", chunks=lines())

    async def openai_chat(self, raw: bytes, _: str) -> Reply:
        body = _object(raw)
        prompt = _joined(body.get("messages"))
        failed = await self.before_answer()
        if failed is not None:
            return failed
        text = self.answer_text(prompt)
        p, c = prompt_tokens(prompt), count_tokens(text)
        head = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "created": int(time.time()),
                "model": body.get("model", self.settings.model)}
        usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        if not body.get("stream", False):
            return _json({**head, "object": "chat.completion", "usage": usage,
                          "choices": [{"index": 0, "finish_reason": "stop", "message": {
                              "role": "assistant", "content": text}}]})

        def event(delta: dict[str, Any], finish: str | None, **extra: Any) -> bytes:
            chunk = {**head, "object": "chat.completion.chunk", **extra, "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish}]}
            return b"data: " + orjson.dumps(chunk) + b"\n\n"

        async def events() -> AsyncIterator[bytes]:
            yield event({"role": "assistant", "content": ""}, None)
            for i in range(0, len(text), 16):
                yield event({"content": text[i:i + 16]}, None)
            yield event({}, "stop", usage=usage)
            yield b"data: [DONE]\n\n"

        return Reply(200, content_type=b"text/event-stream; charset=utf-8", chunks=events())

    # -- the rest ---------------------------------------------------------------------------
    async def api_tags(self, _: bytes, __: str) -> Reply:
        if self.state.faults.down:
            return _json({"error": "unavailable"}, 503)
        m = self.settings.model
        return _json({"models": [{
            "name": m, "model": m, "modified_at": _now(), "size": 0, "digest": "emulated",
            "details": {"format": "emulated", "family": "vvtv-emulator"}}]})

    async def openai_models(self, _: bytes, __: str) -> Reply:
        if self.state.faults.down:
            return _json({"error": "unavailable"}, 503)
        return _json({"object": "list", "data": [
            {"id": self.settings.model, "object": "model", "owned_by": "vvtv-emulator"}]})

    async def faults(self, raw: bytes, method: str) -> Reply:
        state = self.state
        if method == "POST":
            body = _object(raw)
            try:
                state.faults.update(body)
            except (TypeError, ValueError):
                return _json({"error": "fault values must be numbers or booleans"}, 400)
        elif method == "DELETE":
            state.faults = Faults()
        return _json({**asdict(state.faults), "model": self.settings.model,
                      "calls": state.calls})


def _joined(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    return "\n\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))


async def _send(send: Send, reply: Reply, *, head: bool = False,
                allow: str | None = None) -> None:
    headers = [(b"content-type", reply.content_type)]
    if allow:
        headers.append((b"allow", allow.encode()))
    if reply.chunks is None:
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else reply.body})
        return
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    async for chunk in reply.chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(settings: EmulatorSettings) -> EmulatorApp:
    return EmulatorApp(settings)


def parse_latency(text: str) -> tuple[float, float]:
    """``"300:900"`` -> (median 300, p95 900); ``"5"`` -> (5, 5)."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"latency {text!r} is not MEDIAN:P95 in milliseconds") from None
    if len(values) not in (1, 2) or any(v < 0 for v in values):
        raise ValueError(f"latency {text!r} is not MEDIAN:P95 in milliseconds")
    median = values[0]
    p95 = values[1] if len(values) == 2 else median
    if p95 < median:
        raise ValueError(f"latency {text!r}: the p95 is below the median")
    return median, p95


class CallLog:
    """ASGI wrapper: one JSON line per model call (not ``/_faults``, not the pings) with the
    caller's W3C trace (``traceparent``: the emulator's own span is a child of it)."""

    def __init__(self, app: Any, path: str, model: str) -> None:
        import os

        self.app, self.model = app, model
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in CALL_PATHS:
            await self.app(scope, receive, send)
            return
        import os

        from vvtvlib.core.trace import continue_or_start

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        ctx = continue_or_start(headers.get("traceparent"))
        started = time.perf_counter()
        status = [0]

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            line = orjson.dumps({
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00",
                                                                                   "Z"),
                "service": f"emulator:{self.model}", "severity": "INFO", "msg": "call",
                "trace_id": ctx.trace_id, "span_id": ctx.span_id, "path": scope["path"],
                "status": status[0], "duration_ms": round((time.perf_counter() - started)
                                                          * 1000, 3)})
            os.write(self.fd, line + b"\n")


CALL_PATHS = {"/api/chat", "/api/generate", "/v1/chat/completions"}


def serve(settings: EmulatorSettings, host: str = "127.0.0.1", port: int = 11434,
          log: str | None = None) -> None:
    import uvicorn

    app: Any = create_app(settings)
    if log:
        app = CallLog(app, log, settings.model)
    uvicorn.run(app, host=host, port=port, log_level="warning", loop="uvloop",
                http="httptools", access_log=False, lifespan="off", timeout_graceful_shutdown=1)
