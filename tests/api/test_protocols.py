"""pool-api's uvicorn protocols on their own: the h11 one too, and an app that is not pool-api
(no ``Gateway`` to observe the request: a fresh request id, the same answer)."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tests.plugins.rawhttp import raw_http
from vvtvlib.api.errors import BAD_REQUEST_MESSAGE
from vvtvlib.api.protocols import ApiH11Protocol, ApiHttpToolsProtocol
from vvtvlib.core.wait import wait_until
from vvtvlib.pool.emulator.process import free_port


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture(params=[ApiHttpToolsProtocol, ApiH11Protocol], ids=["httptools", "h11"])
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(hello, host="127.0.0.1", port=port, lifespan="off",
                                       log_level="error", http=request.param))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    wait_until(lambda: srv.started, 30, 0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


def test_a_good_request_is_served_as_before(server: str) -> None:
    r = raw_http(server, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert (r.status, r.body) == (200, b"hello")


@pytest.mark.parametrize("data", [b"NOT HTTP\r\n\r\n",
                                  b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n"])
def test_a_malformed_request_gets_the_error_body(server: str, data: bytes) -> None:
    r = raw_http(server, data)
    body = json.loads(r.body)
    assert r.status == 400 and r.closed
    assert body == {"error": "SCHEMA_INVALID", "message": BAD_REQUEST_MESSAGE,
                    "request_id": r.headers["x-request-id"]}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.body)


def test_the_requests_pipelined_before_a_bad_one_are_answered_first(server: str) -> None:
    """Two good requests, then a bad one, in one write: 200, 200, then the 400 and the close
    (uvicorn's own httptools protocol answers the 400 at once and loses the two 200s)."""
    host, port = server.split("//", 1)[1].rsplit(":", 1)
    good = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(good + good + b"NOT HTTP\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    statuses = [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    assert statuses == [200, 200, 400], data
    assert data.endswith(b'"}')


def test_a_request_refused_after_its_headers_is_answered_at_once(server: str) -> None:
    """Its headers read, its body never comes (an unknown Transfer-Encoding): the app may be
    waiting for that body, so the 400 goes out now, after a good request pipelined before."""
    host, port = server.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                  b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)] == [200, 400], data
