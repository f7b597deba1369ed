"""Hello-world apps for the API benchmark: bare ASGI (c) and Starlette (the framework's cost)."""

from __future__ import annotations

from typing import Any

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
