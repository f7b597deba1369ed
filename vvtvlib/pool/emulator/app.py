"""The provider emulator: an ASGI app speaking the Ollama HTTP API and the OpenAI-compatible
``/v1/chat/completions``, with a latency profile, errors, messy output and a fault endpoint.

``/_faults``: ``GET`` shows the faults, ``POST {"down", "latency_ms", "error_rate", "hang"}``
sets some of them, ``DELETE`` clears them all. ``down`` answers 503; ``latency_ms`` adds to
every answer; ``error_rate`` adds 500s; ``hang`` never answers.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..tokens import count_tokens
from .content import content_for, messy, parse_prompt

Z95 = 1.6448536269514722


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


def create_app(settings: EmulatorSettings) -> Starlette:
    seed = settings.seed if settings.seed is not None else sum(settings.model.encode())
    state = _State(settings, rng=random.Random(seed))

    async def before_answer() -> Response | None:
        """Faults, latency and random errors, in that order; a response when the call fails."""
        state.calls += 1
        if state.faults.down:
            return JSONResponse({"error": f"model {settings.model} is unavailable"}, 503)
        if state.faults.hang:
            await asyncio.Event().wait()
        delay = settings.sample_latency_ms(state.rng) + state.faults.latency_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if state.rng.random() < max(settings.error_rate, state.faults.error_rate):
            return JSONResponse({"error": "internal error while running the model"}, 500)
        return None

    def answer_text(prompt: str) -> str:
        parsed = parse_prompt(prompt)
        if parsed is None:
            return "I can only answer the station's tasks."
        task, payload = parsed
        content = content_for(settings.model, task, payload)
        text = json.dumps(content)
        if state.rng.random() < settings.messy_rate:
            text = messy(state.rng, text, content)
        return text

    async def read_json(request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "request body is not JSON"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "request body is not a JSON object"}, 400)
        return body

    def ollama_counts(prompt: str, text: str, started: float) -> dict[str, Any]:
        total = int((time.perf_counter() - started) * 1e9)
        return {"done": True, "done_reason": "stop", "total_duration": total,
                "load_duration": 0, "prompt_eval_count": count_tokens(prompt),
                "prompt_eval_duration": total // 4, "eval_count": count_tokens(text),
                "eval_duration": total - total // 4}

    async def ollama(request: Request, chat: bool) -> Response:
        started = time.perf_counter()
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        if chat:
            messages = body.get("messages") or []
            prompt = "\n\n".join(str(m.get("content", "")) for m in messages
                                 if isinstance(m, dict))
        else:
            prompt = "\n\n".join(p for p in (str(body.get("system") or ""),
                                             str(body.get("prompt") or "")) if p)
        failed = await before_answer()
        if failed is not None:
            return failed
        text = answer_text(prompt)
        head = {"model": body.get("model", settings.model), "created_at": _now()}

        def piece(chunk: str) -> dict[str, Any]:
            if chat:
                return {**head, "message": {"role": "assistant", "content": chunk}}
            return {**head, "response": chunk}

        if body.get("stream", True) is False:
            return JSONResponse({**piece(text), **ollama_counts(prompt, text, started)})

        async def lines() -> AsyncIterator[bytes]:
            for i in range(0, len(text), 16):
                yield (json.dumps({**piece(text[i:i + 16]), "done": False}) + "\n").encode()
            yield (json.dumps({**piece(""), **ollama_counts(prompt, text, started)})
                   + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def api_chat(request: Request) -> Response:
        return await ollama(request, chat=True)

    async def api_generate(request: Request) -> Response:
        return await ollama(request, chat=False)

    async def api_tags(request: Request) -> Response:
        if state.faults.down:
            return JSONResponse({"error": "unavailable"}, 503)
        return JSONResponse({"models": [{
            "name": settings.model, "model": settings.model, "modified_at": _now(),
            "size": 0, "digest": "emulated",
            "details": {"format": "emulated", "family": "vvtv-emulator"}}]})

    async def openai_chat(request: Request) -> Response:
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        messages = body.get("messages") or []
        prompt = "\n\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        failed = await before_answer()
        if failed is not None:
            return failed
        text = answer_text(prompt)
        p, c = count_tokens(prompt), count_tokens(text)
        head = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "created": int(time.time()),
                "model": body.get("model", settings.model)}
        usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        if not body.get("stream", False):
            return JSONResponse({**head, "object": "chat.completion", "usage": usage,
                                 "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                     "role": "assistant", "content": text}}]})

        def event(delta: dict[str, Any], finish: str | None, **extra: Any) -> bytes:
            chunk = {**head, "object": "chat.completion.chunk", **extra, "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(chunk)}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            yield event({"role": "assistant", "content": ""}, None)
            for i in range(0, len(text), 16):
                yield event({"content": text[i:i + 16]}, None)
            yield event({}, "stop", usage=usage)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def openai_models(request: Request) -> Response:
        if state.faults.down:
            return JSONResponse({"error": "unavailable"}, 503)
        return JSONResponse({"object": "list", "data": [
            {"id": settings.model, "object": "model", "owned_by": "vvtv-emulator"}]})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await read_json(request)
            if isinstance(body, Response):
                return body
            try:
                state.faults.update(body)
            except (TypeError, ValueError):
                return JSONResponse({"error": "fault values must be numbers or booleans"}, 400)
        elif request.method == "DELETE":
            state.faults = Faults()
        return JSONResponse({**asdict(state.faults), "model": settings.model,
                             "calls": state.calls})

    return Starlette(routes=[
        Route("/api/tags", api_tags, methods=["GET"]),
        Route("/api/chat", api_chat, methods=["POST"]),
        Route("/api/generate", api_generate, methods=["POST"]),
        Route("/v1/chat/completions", openai_chat, methods=["POST"]),
        Route("/v1/models", openai_models, methods=["GET"]),
        Route("/_faults", faults, methods=["GET", "POST", "DELETE"]),
    ])


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
            line = json.dumps({
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00",
                                                                                   "Z"),
                "service": f"emulator:{self.model}", "severity": "INFO", "msg": "call",
                "trace_id": ctx.trace_id, "span_id": ctx.span_id, "path": scope["path"],
                "status": status[0], "duration_ms": round((time.perf_counter() - started)
                                                          * 1000, 3)})
            os.write(self.fd, line.encode() + b"\n")


CALL_PATHS = {"/api/chat", "/api/generate", "/v1/chat/completions"}


def serve(settings: EmulatorSettings, host: str = "127.0.0.1", port: int = 11434,
          log: str | None = None) -> None:
    import uvicorn

    app: Any = create_app(settings)
    if log:
        app = CallLog(app, log, settings.model)
    uvicorn.run(app, host=host, port=port, log_level="warning",
                access_log=False, lifespan="off", timeout_graceful_shutdown=1)
