"""The supervisor's answers to control commands, as typed records on both sides of the HTTP
edge: the supervisor (``service``) returns them, ``Supervisor.control`` turns them into the
JSON body (``to_dict``), and ``control`` reads the body back (``from_dict``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .state import Position, ResumePoint


@dataclass(frozen=True)
class EncoderRun:
    """The broadcaster's current FFmpeg run (``run_id`` None: no run since the start)."""

    running: bool
    run_id: str | None = None
    pid: int | None = None
    uptime_s: float | None = None
    segments: int = 0
    args: tuple[str, ...] | None = None
    last_segment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.run_id is None:
            return {"running": self.running, "segments": self.segments}
        return {"running": self.running, "run_id": self.run_id, "pid": self.pid,
                "uptime_s": self.uptime_s, "segments": self.segments,
                "args": None if self.args is None else list(self.args),
                "last_segment": self.last_segment}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderRun:
        args = data.get("args")
        return cls(running=bool(data.get("running")), run_id=data.get("run_id"),
                   pid=data.get("pid"), uptime_s=data.get("uptime_s"),
                   segments=int(data.get("segments") or 0),
                   args=None if args is None else tuple(args),
                   last_segment=data.get("last_segment"))


@dataclass(frozen=True)
class BroadcastStarted:
    """``broadcaster/start``: the run's first position, or the run that was already on."""

    already_running: bool
    encoder: EncoderRun
    start: Position | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"already_running": self.already_running}
        if self.start is not None:
            out["start"] = self.start.to_dict()
        return {**out, **self.encoder.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BroadcastStarted:
        return cls(bool(data.get("already_running")), EncoderRun.from_dict(data),
                   Position.from_dict(data.get("start")))


@dataclass(frozen=True)
class IngestStopped:
    """``broadcaster/stop``: ingest stopped (last segment flushed) and where it resumes."""

    resume: ResumePoint | None

    def to_dict(self) -> dict[str, Any]:
        return {"stopped": True, "resume": None if self.resume is None else self.resume.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestStopped:
        return cls(ResumePoint.from_dict(data.get("resume")))


@dataclass(frozen=True)
class EncoderRestarted:
    """``encoder/restart``: the encoder stopped and started again at the resume point; nginx
    (``nginx_pid``) and the HTTP server kept running."""

    previous_run_id: str | None
    start: Position
    nginx_pid: int | None
    encoder: EncoderRun

    @property
    def run_id(self) -> str | None:
        return self.encoder.run_id

    def to_dict(self) -> dict[str, Any]:
        return {"previous_run_id": self.previous_run_id, "start": self.start.to_dict(),
                "nginx_pid": self.nginx_pid, **self.encoder.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderRestarted:
        start = Position.from_dict(data.get("start"))
        if start is None:
            raise ValueError("an encoder restart names no start position")
        return cls(data.get("previous_run_id"), start, data.get("nginx_pid"),
                   EncoderRun.from_dict(data))


@dataclass(frozen=True)
class EmergencyInjected:
    """``emergency/inject``: entries of the emergency loop appended to the queue."""

    injected: int
    item_id: str
    added_s: float
    queue_buffer_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"injected": self.injected, "item_id": self.item_id, "added_s": self.added_s,
                "queue_buffer_s": self.queue_buffer_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmergencyInjected:
        return cls(int(data["injected"]), str(data["item_id"]), float(data["added_s"]),
                   float(data["queue_buffer_s"]))


__all__ = ["BroadcastStarted", "EmergencyInjected", "EncoderRestarted", "EncoderRun",
           "IngestStopped"]
