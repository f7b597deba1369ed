"""Apps for the API benchmark: a bare ASGI hello-world (c), Starlette's (the framework's cost),
and (e) a bare forward: each request's body posted to the emulator with the pool's HTTP client
(aiohttp, one keep-alive pool) and the reply returned, with no check at all. (e) is the
ceiling of any gateway of this shape (one HTTP server in front of one HTTP client in Python)."""

from __future__ import annotations

import os
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"hello":"world"}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


async def _hello(_: Request) -> Response:
    return Response(BODY, media_type="application/json")


starlette_app = Starlette(routes=[Route("/{p:path}", _hello, methods=["GET", "POST"])])


_session: aiohttp.ClientSession | None = None


async def forward_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """(e): ``POST /api/chat`` to the emulator at ``VVTV_FORWARD_TO`` (base URL), as is."""
    global _session
    if scope["type"] != "http":
        return
    chunks, more = [], True
    while more:
        msg = await receive()
        chunks.append(msg.get("body", b""))
        more = msg.get("more_body", False)
    if _session is None:  # the pool's settings: keep-alive pool, no env, no User-Agent
        _session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=16, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(total=30), trust_env=False,
            skip_auto_headers=("User-Agent",))
    async with _session.post(os.environ["VVTV_FORWARD_TO"] + "/api/chat", data=b"".join(chunks),
                             headers={"Content-Type": "application/json"},
                             allow_redirects=False) as resp:
        body, status = await resp.read(), resp.status
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
