"""An Alertmanager webhook receiver that pages by the escalation policy.

    POST /               Alertmanager's webhook body (version 4): a firing alert pages L1,
                         a resolved one ends its escalation; a firing alert of a ticket
                         severity (``minor``) opens a ticket instead and pages no one
    POST /ack/<alert>    the person paged acknowledges: the escalation stops
    GET  /pages          every page so far (JSON; ``received``: when Alertmanager's firing
                         webhook reached the receiver, to the millisecond; ``labels``: the
                         alert's labels, so pages count per incident); GET /healthz
    GET  /tickets        every ticket so far (one per firing of a minor alert)

Each page is one line of ``pages.jsonl`` in the receiver's folder. ``tick()`` pages the
next levels whose timeout has passed; the server ticks every second with the system clock,
tests call it with a fake one. While ``serve`` runs, ``receiver.json`` in the same folder
(written atomically, removed on a clean exit) gives its URL and pid: ``vvtvctl obs up``
reads ``<root>/oncall/receiver.json`` to route Alertmanager's webhooks to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.fsio import atomic_write

from .escalation import Page, Policy, page, schedule
from .rota import Rota


@dataclass
class Open:
    alert: str
    key: str
    started: datetime
    severity: str
    labels: dict[str, str] = field(default_factory=dict)
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
        self.closed: list[Open] = []  # resolved escalations of an alert that fired again
        self.ticketed: dict[str, dict[str, Any]] = {}  # key -> its open ticket
        self._tickets: list[dict[str, Any]] = []
        self.steps = schedule(policy)

    @property
    def log_path(self) -> Path:
        return self.folder / "pages.jsonl"

    @property
    def tickets_path(self) -> Path:
        return self.folder / "tickets.jsonl"

    def _ticket(self, key: str, name: str, severity: str, labels: dict[str, Any],
                annotations: dict[str, Any]) -> None:
        if key in self.ticketed:
            return  # Alertmanager repeats: one ticket per firing
        t = {"alert": name, "severity": severity, "opened": utc_iso(self.clock.now()),
             "service": str(labels.get("service", "")),
             "runbook_url": str(annotations.get("runbook_url", "")),
             "summary": str(annotations.get("summary", ""))}
        self.ticketed[key] = t
        self._tickets.append(t)
        with self.tickets_path.open("a") as fh:
            fh.write(json.dumps(t) + "\n")

    def _record(self, o: Open, p: Page) -> None:
        o.pages.append(p)
        with self.log_path.open("a") as fh:
            fh.write(json.dumps({"alert": o.alert, "severity": o.severity,
                                 "received": utc_iso(o.started), "labels": o.labels,
                                 **asdict(p)}) + "\n")

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
                severity = str(labels.get("severity", ""))
                if a.get("status") == "resolved":
                    if key in self.open:
                        self.open[key].resolved = True
                    self.ticketed.pop(key, None)
                    continue
                if severity in self.policy.ticket_severities:
                    self._ticket(key, name, severity, labels, a.get("annotations") or {})
                    continue
                if key in self.open and not self.open[key].resolved:
                    continue  # Alertmanager repeats: the escalation already runs
                if key in self.open:  # fired again after it resolved: keep the first pages
                    self.closed.append(self.open[key])
                self.open[key] = Open(name, key, now, severity,
                                      {str(k): str(v) for k, v in labels.items()})
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

    def tickets(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._tickets)

    def pages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"alert": o.alert, "received": utc_iso(o.started), "labels": o.labels,
                     **asdict(p)}
                    for o in [*self.closed, *self.open.values()] for p in o.pages]


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
            elif self.path == "/tickets":
                self._json(200, receiver.tickets())
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


ANNOUNCEMENT = "receiver.json"


@dataclass(frozen=True)
class Announcement:
    """What a running receiver says about itself in ``<folder>/receiver.json``."""

    url: str
    pid: int
    started_utc: str
    pages: str

    @classmethod
    def read(cls, folder: str | Path) -> Announcement | None:
        """The announcement in ``folder``, or None when there is none, it is unreadable or
        its process no longer runs (a receiver that was killed leaves it behind)."""
        try:
            data = json.loads((Path(folder) / ANNOUNCEMENT).read_text())
            ann = cls(str(data["url"]), int(data["pid"]), str(data.get("started_utc", "")),
                      str(data.get("pages", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return ann if _pid_runs(ann.pid) else None


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(receiver: Receiver, host: str, port: int, stop: threading.Event, *,
          ready: Callable[[str], None] | None = None) -> None:
    """Serve until ``stop`` is set, ticking every second; ``receiver.json`` announces the
    URL (the port bound, 127.0.0.1 for a wildcard host) and goes on a clean exit."""
    server = make_server(receiver, host, port)
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - a comparison
    url = f"http://{shown}:{server.server_address[1]}/"
    path = receiver.folder / ANNOUNCEMENT
    threading.Thread(target=server.serve_forever, name="oncall-receiver", daemon=True).start()
    try:
        atomic_write(path, json.dumps(asdict(Announcement(
            url, os.getpid(), utc_iso(receiver.clock.now()), str(receiver.log_path))),
            indent=2) + "\n", durable=False)
        if ready is not None:
            ready(url)
        while not stop.wait(1.0):
            receiver.tick()
    finally:
        server.shutdown()
        server.server_close()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("url") == url:  # not another receiver's
                path.unlink()
