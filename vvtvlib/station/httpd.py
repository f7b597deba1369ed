"""The supervisor's HTTP face: ``/status``, ``/metrics``, ``/hls/*`` and token-guarded
``/control/*``.

Listens on 127.0.0.1 only. Control requests need the ``X-VVTV-Token`` header whose value is
in ``system/run/control.token`` (0600), so only users who can read the station's run
folder can steer it.
"""

from __future__ import annotations

import hmac
import json
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from vvtvlib.core.errors import VVTVError

from .runtime import SupervisorStatus

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t",
                 ".jpg": "image/jpeg"}


class Backend(Protocol):
    token: str
    hls_dir: Path

    def runtime_status(self) -> SupervisorStatus: ...
    def playlist_text(self) -> str | None: ...
    def control(self, action: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def metrics_text(self) -> bytes: ...


class Handler(BaseHTTPRequestHandler):
    server_version = "vvtv-station/1"
    backend: Backend

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass  # request logs would flood the supervisor log at 2 requests/s per viewer

    def _send(self, code: int, body: bytes, ctype: str, head: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, code: int, obj: Any) -> None:
        self._send(code, json.dumps(obj, sort_keys=True, default=str).encode(),
                   "application/json")

    def _get(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/status":
            self._json(200, self.backend.runtime_status().to_dict())
            return
        if path == "/metrics":
            from .metrics import CONTENT_TYPE

            self._send(200, self.backend.metrics_text(), CONTENT_TYPE, head)
            return
        if path.startswith("/hls/"):
            name = path[len("/hls/"):]
            if not _NAME.match(name):
                self._send(404, b"not found\n", "text/plain", head)
                return
            if name.endswith(".m3u8"):
                text = self.backend.playlist_text()
                if text is None:
                    self._send(404, b"no playlist yet\n", "text/plain", head)
                else:
                    self._send(200, text.encode(), CONTENT_TYPES[".m3u8"], head)
                return
            file = self.backend.hls_dir / name
            try:
                data = file.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                self._send(404, b"not found\n", "text/plain", head)
                return
            self._send(200, data, CONTENT_TYPES.get(file.suffix, "application/octet-stream"),
                       head)
            return
        self._send(404, b"not found\n", "text/plain", head)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._get(False)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self._get(True)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0]
        if not path.startswith("/control/"):
            self._json(404, {"error": "not found"})
            return
        token = self.headers.get("X-VVTV-Token", "")
        if not hmac.compare_digest(token, self.backend.token):
            self._json(HTTPStatus.FORBIDDEN, {"error": "bad control token"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        except ValueError:
            self._json(400, {"error": "body is not JSON"})
            return
        try:
            self._json(200, self.backend.control(path[len("/control/"):], body))
        except VVTVError as exc:
            self._json(HTTPStatus.CONFLICT, exc.to_dict())
        except KeyError as exc:
            self._json(404, {"error": f"unknown: {exc}"})
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - reported to the caller, supervisor lives on
            self._json(500, {"error": f"{type(exc).__name__}: {exc}"})


def make_server(backend: Backend, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"backend": backend})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
