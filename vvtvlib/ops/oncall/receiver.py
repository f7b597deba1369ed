"""An Alertmanager webhook receiver that pages by the escalation policy.

    POST /               Alertmanager's webhook body (version 4): a firing alert pages L1,
                         a resolved one ends its escalation
    POST /ack/<alert>    the person paged acknowledges: the escalation stops
    GET  /pages          every page so far (JSON); GET /healthz

Each page is one line of ``pages.jsonl`` in the receiver's folder. ``tick()`` pages the
next levels whose timeout has passed; the server ticks every second with the system clock,
tests call it with a fake one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock

from .escalation import Page, Policy, page, schedule
from .rota import Rota


@dataclass
class Open:
    alert: str
    key: str
    started: datetime
    severity: str
    done_steps: int = 0
    acknowledged: bool = False
    resolved: bool = False
    pages: list[Page] = field(default_factory=list)


class Receiver:
    def __init__(self, policy: Policy, rota: Rota, folder: str | Path, *,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.policy = policy
        self.rota = rota
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.lock = threading.Lock()
        self.open: dict[str, Open] = {}
        self.steps = schedule(policy)

    @property
    def log_path(self) -> Path:
        return self.folder / "pages.jsonl"

    def _record(self, o: Open, p: Page) -> None:
        o.pages.append(p)
        with self.log_path.open("a") as fh:
            fh.write(json.dumps({"alert": o.alert, "severity": o.severity, **asdict(p)}) + "\n")

    def webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        alerts = body.get("alerts")
        if not isinstance(alerts, list):
            raise ValueError("not an Alertmanager webhook body (no alerts list)")
        now = self.clock.now()
        started: list[str] = []
        with self.lock:
            for a in alerts:
                labels = a.get("labels") or {}
                name = str(labels.get("alertname") or "unnamed")
                key = str(a.get("fingerprint") or name)
                if a.get("status") == "resolved":
                    if key in self.open:
                        self.open[key].resolved = True
                    continue
                if key in self.open and not self.open[key].resolved:
                    continue  # Alertmanager repeats: the escalation already runs
                self.open[key] = Open(name, key, now, str(labels.get("severity", "")))
                started.append(name)
        self.tick()
        return {"started": started, "open": self.active()}

    def ack(self, alert: str) -> bool:
        with self.lock:
            hit = [o for o in self.open.values() if alert in (o.alert, o.key) and not o.resolved]
            for o in hit:
                o.acknowledged = True
        return bool(hit)

    def tick(self) -> list[Page]:
        now = self.clock.now()
        new: list[Page] = []
        with self.lock:
            for o in self.open.values():
                if o.acknowledged or o.resolved:
                    continue
                while o.done_steps < len(self.steps):
                    minute, levels = self.steps[o.done_steps]
                    at = o.started + timedelta(minutes=minute)
                    if at > now:
                        break
                    for level in levels:
                        p = page(self.policy, self.rota, level, at, minute)
                        self._record(o, p)
                        new.append(p)
                    o.done_steps += 1
        return new

    def active(self) -> list[str]:
        return sorted(o.alert for o in self.open.values()
                      if not (o.acknowledged or o.resolved))

    def pages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"alert": o.alert, **asdict(p)} for o in self.open.values()
                    for p in o.pages]


def make_server(receiver: Receiver, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _json(self, code: int, obj: Any) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            if self.path == "/pages":
                self._json(200, receiver.pages())
            elif self.path == "/healthz":
                self._json(200, {"ok": True, "open": receiver.active()})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.startswith("/ack/"):
                ok = receiver.ack(self.path[len("/ack/"):])
                self._json(200 if ok else 404, {"acknowledged": ok})
                return
            if self.path != "/":
                self._json(404, {"error": "not found"})
                return
            try:
                self._json(200, receiver.webhook(json.loads(raw or b"{}")))
            except ValueError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

    return ThreadingHTTPServer((host, port), Handler)


def serve(receiver: Receiver, host: str, port: int, stop: threading.Event) -> None:
    server = make_server(receiver, host, port)
    threading.Thread(target=server.serve_forever, name="oncall-receiver", daemon=True).start()
    try:
        while not stop.wait(1.0):
            receiver.tick()
    finally:
        server.shutdown()
        server.server_close()
