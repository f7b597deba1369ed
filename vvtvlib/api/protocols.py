"""pool-api's HTTP protocol under uvicorn: httptools (as before), with the API's own answer to
a request the parser cannot read.

uvicorn answers a malformed request (a bad request line, an unknown method, an invalid header)
itself, before any ASGI app sees it, with a plain-text 400 and none of the contract's headers.
``ApiHttpToolsProtocol`` (and ``ApiH11Protocol``, for a server without httptools) override only
that answer, ``send_400_response``: the error body (``SCHEMA_INVALID``, as the gateway's own 400),
an ``X-Request-Id`` (the gateway's when the headers read before the fault carry it with the
gateway token: nginx passes a header with a control byte on, and its id must be the one in the
body; else a fresh one), ``nosniff``, then the connection is closed (with httptools, once the
requests pipelined before the bad one are answered). pool-api observes the
request as it does an unmatched route's (audit line, metrics, access log). A good request never goes
through the override, so it costs nothing on the hot path.

``vvtvctl api up`` (``supervisor``), ``ApiLab`` and ``benchmarks/bench_api.py`` all run pool-api
with ``HTTP_PROTOCOL``.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import BAD_REQUEST_MESSAGE, SCHEMA_INVALID

HTTP_PROTOCOL = "vvtvlib.api.protocols:ApiHttpToolsProtocol"  # uvicorn's --http


class _Observes(Protocol):
    def unreadable(self, headers: dict[str, str], client_ip: str) -> str: ...


def _gateway(app: Any) -> _Observes | None:
    """pool-api's ``Gateway`` under whatever uvicorn wrapped the app in (``.app`` chains)."""
    for _ in range(8):
        gw = getattr(app, "gateway", None)
        if gw is not None and hasattr(gw, "unreadable"):
            return gw
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


def request_id_for(app: Any, headers: list[tuple[bytes, bytes]],
                   client: tuple[str, int] | None) -> str:
    """The 400's request id, the request observed by pool-api (audit, metrics, access log);
    a fresh id if that fails: the answer goes out whatever happens."""
    gw = _gateway(app)
    if gw is not None:
        try:
            return gw.unreadable({k.decode("latin-1"): v.decode("latin-1") for k, v in headers},
                                 client[0] if client else "")
        except Exception:  # noqa: BLE001 - never a traceback instead of the answer
            pass
    return str(uuid.uuid4())


def bad_request(default_headers: list[tuple[bytes, bytes]], rid: str | None = None
                ) -> tuple[bytes, str]:
    """The bytes of the 400 answer (uvicorn's ``Date``/``Server`` first) and its request id."""
    rid = rid or str(uuid.uuid4())
    body = b'{"error":"%s","message":"%s","request_id":"%s"}' % (
        SCHEMA_INVALID.encode(), BAD_REQUEST_MESSAGE.encode(), rid.encode())
    head = [b"HTTP/1.1 400 Bad Request\r\n"]
    head += [b"%s: %s\r\n" % (k, v) for k, v in default_headers]
    head += [b"content-type: application/json\r\n",
             b"content-length: %d\r\n" % len(body),
             b"x-request-id: %s\r\n" % rid.encode(),
             b"x-content-type-options: nosniff\r\n",
             b"connection: close\r\n\r\n"]
    return b"".join(head) + body, rid


class _AnswerBadRequest:
    """Queued in uvicorn's pipeline where the next request's cycle would be: run once the
    requests before it are answered, it writes the 400 and closes."""

    more_body = False

    def __init__(self, transport: Any, data: bytes) -> None:
        self.transport, self.data = transport, data

    async def run_asgi(self, app: Any) -> None:
        if not self.transport.is_closing():
            self.transport.write(self.data)
            self.transport.close()


class ApiHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        """The 400, after the answers to the requests pipelined before the bad one (uvicorn's
        own would cut them off), reading no more meanwhile; at once when the app may be
        reading the bad request's own body."""
        if getattr(self, "_bad_request_queued", False):
            return  # queued already, after the answers before it
        # the headers httptools read before the fault (none when the request line was bad)
        headers = getattr(self, "headers", None) or []
        data, rid = bad_request(self.server_state.default_headers,
                                request_id_for(self.app, headers, self.client))
        self.logger.warning("answered 400 %s to a malformed request (request_id %s)",
                            SCHEMA_INVALID, rid)
        cycle = self.cycle
        if self.pipeline or (cycle is not None and not cycle.response_complete
                             and not cycle.more_body):
            answer = (_AnswerBadRequest(self.transport, data), self.app)
            if self.pipeline and self.pipeline[0][0].more_body:
                self.pipeline[0] = answer  # type: ignore[assignment]  # the bad request's own
            else:
                self.pipeline.appendleft(answer)  # type: ignore[arg-type]
            self._bad_request_queued = True
            self.flow.pause_reading()
            return
        self.transport.write(data)
        self.transport.close()


class ApiH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:  # h11 keeps no header of a bad request
        data, rid = bad_request(self.server_state.default_headers,
                                request_id_for(self.app, [], self.client))
        self.logger.warning("answered 400 %s to a malformed request (request_id %s)",
                            SCHEMA_INVALID, rid)
        self.transport.write(data)
        self.transport.close()


__all__ = ["HTTP_PROTOCOL", "ApiH11Protocol", "ApiHttpToolsProtocol", "bad_request",
           "request_id_for"]
