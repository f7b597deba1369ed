"""A raw HTTP/1.1 exchange on a socket: for requests no HTTP client would build (a bad
request line, a header without a colon, two Content-Lengths)."""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    closed: bool  # the server closed the connection after its answer


def raw_http(base_url: str, data: bytes, timeout_s: float = 20) -> RawAnswer:
    """Send ``data`` as it is (a request no HTTP client would build) and read one answer."""
    host, port = base_url.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, f"the connection closed without an answer: {buf!r}"
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, v in (ln.split(":", 1) for ln in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            assert chunk, "the connection closed in the middle of the body"
            body += chunk
        try:
            closed = s.recv(1) == b""
        except TimeoutError:
            closed = False
    return RawAnswer(int(lines[0].split()[1]), headers, body, closed)
