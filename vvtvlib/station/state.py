"""Control state in ``data/control.sqlite``: operator flags and playout position.

A key/value table of JSON values plus an event log of commands. Every flag change bumps
``generation``; the supervisor reports the generation it has applied, so a caller can wait
until a pause is really in force (no job can start after that).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.errors import UsageError
from vvtvlib.core.layout import StationLayout

from .db import opened, transaction
from .schema import CONTROL, create

WORKERS: tuple[str, ...] = ("planner", "realizer", "discovery")


@dataclass(frozen=True)
class Position:
    """Where playout is (or resumes): a queue entry and an offset into its item."""

    queue_position: int
    item_id: str
    offset_s: float
    slot_id: str | None = None
    plan_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Position | None:
        if not d:
            return None
        return cls(int(d["queue_position"]), str(d["item_id"]), float(d["offset_s"]),
                   d.get("slot_id"), d.get("plan_id"))


@dataclass(frozen=True)
class ResumePoint:
    """A recorded resume point as the control store keeps it: a position, and when it was
    recorded (absent on the point a new station starts from)."""

    position: Position
    recorded_utc: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self.position.to_dict()
        if self.recorded_utc is not None:
            out["recorded_utc"] = self.recorded_utc
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ResumePoint | None:
        pos = Position.from_dict(d)
        return None if pos is None or d is None else cls(pos, d.get("recorded_utc"))


@dataclass(frozen=True)
class Playing:
    """What is on air (the control store's ``playing``): the newest served segment, its
    position, and the encoder run that wrote it."""

    position: Position
    segment: str
    sequence: int
    run_id: str
    program_date_time: str | None
    updated_utc: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.position.to_dict(), "segment": self.segment, "sequence": self.sequence,
                "run_id": self.run_id, "program_date_time": self.program_date_time,
                "updated_utc": self.updated_utc}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Playing | None:
        pos = Position.from_dict(d)
        if pos is None or d is None:
            return None
        return cls(pos, str(d.get("segment", "")), int(d.get("sequence", 0)),
                   str(d.get("run_id", "")), d.get("program_date_time"),
                   str(d.get("updated_utc", "")))


def position_on_air(values: dict[str, Any]) -> Position | None:
    """Where playout is, from the control store's values: the newest served segment's
    position, else the recorded resume point."""
    playing = Playing.from_dict(values.get("playing"))
    if playing is not None:
        return playing.position
    resume = ResumePoint.from_dict(values.get("resume"))
    return resume.position if resume else None


@dataclass(frozen=True)
class Flags:
    generation: int = 0
    paused: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(WORKERS, False))
    queue_frozen: bool = False
    discovery_hold_until: str | None = None
    broadcaster_desired: str = "on"

    def worker_blocked(self, worker: str, now_iso: str) -> bool:
        if self.paused.get(worker, False):
            return True
        if worker == "planner" and self.queue_frozen:
            return False  # the planner still plans; it only leaves the queue alone
        return bool(worker == "discovery" and self.discovery_hold_until
                    and now_iso < self.discovery_hold_until)


class ControlStore:
    def __init__(self, layout: StationLayout):
        self.layout = layout
        self.path = layout.db("control")

    def ensure(self) -> None:
        self.layout.data.mkdir(parents=True, exist_ok=True)
        create(self.path, CONTROL)

    def exists(self) -> bool:
        return self.path.exists()

    def get(self, name: str, default: Any = None) -> Any:
        if not self.path.exists():
            return default
        with opened(self.path, readonly=True) as conn:
            row = conn.execute("SELECT value FROM kv WHERE name=?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def on_air(self) -> Position | None:
        return position_on_air(self.get_many())

    def get_many(self) -> dict[str, Any]:
        """Every value, as stored (JSON): the store's edge; ``flags()``, ``on_air()`` and the
        records' ``from_dict`` are its typed views."""
        if not self.path.exists():
            return {}
        with opened(self.path, readonly=True) as conn:
            return {r[0]: json.loads(r[1]) for r in conn.execute("SELECT name, value FROM kv")}

    def set(self, values: dict[str, Any], *, command: str | None = None,
            detail: dict[str, Any] | None = None, bump: bool = False) -> int:
        """Write ``values`` atomically; returns the generation after the write."""
        if not self.path.exists():
            raise UsageError(f"{self.layout.root} is not an initialised station "
                             "(run `vvtvctl station init`)", path=self.path)
        now = utc_iso()
        with transaction(self.path) as conn:
            row = conn.execute("SELECT value FROM kv WHERE name='generation'").fetchone()
            gen = json.loads(row[0]) if row else 0
            if bump:
                gen += 1
                values = {**values, "generation": gen}
            conn.executemany(
                "INSERT INTO kv(name, value, updated_utc) VALUES(?,?,?) ON CONFLICT(name) "
                "DO UPDATE SET value=excluded.value, updated_utc=excluded.updated_utc",
                [(k, json.dumps(v, sort_keys=True), now) for k, v in values.items()])
            if command:
                conn.execute("INSERT INTO events(ts_utc, command, detail) VALUES(?,?,?)",
                             (now, command, json.dumps(detail or {}, sort_keys=True)))
        return gen

    def flags(self) -> Flags:
        kv = self.get_many()
        paused = dict.fromkeys(WORKERS, False)
        paused.update({k: bool(v) for k, v in (kv.get("paused") or {}).items() if k in paused})
        return Flags(int(kv.get("generation", 0)), paused, bool(kv.get("queue_frozen", False)),
                     kv.get("discovery_hold_until"),
                     str((kv.get("broadcaster") or {}).get("desired", "on")))

    def events(self, limit: int = 50) -> list[dict[str, Any]]:
        with opened(self.path, readonly=True) as conn:
            rows = conn.execute("SELECT ts_utc, command, detail FROM events ORDER BY event_id "
                                "DESC LIMIT ?", (limit,)).fetchall()
        return [{"ts_utc": r[0], "command": r[1], "detail": json.loads(r[2])} for r in rows]


def initial_values(first: Position) -> dict[str, Any]:
    return {"generation": 0, "paused": dict.fromkeys(WORKERS, False), "queue_frozen": False,
            "discovery_hold_until": None, "broadcaster": {"desired": "on"},
            "resume": first.to_dict(), "playing": None,
            "encoder": {"restarts": 0, "last_restart_utc": None}}
