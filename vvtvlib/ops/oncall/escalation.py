"""The escalation policy and who is paged when.

Alerts of a ``ticket_severities`` severity (``minor``) open a ticket and page no one. Others:
page L1 at the alert; not acknowledged ``timeouts_min[0]`` minutes later -> L2;
``timeouts_min[1]`` more -> L3; ``timeouts_min[2]`` more -> every level again. A level is
paged only inside its hours (L2 08:00-22:00, L3 business hours); outside them the step is
in the timeline as skipped. An acknowledgement stops the escalation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vvtvlib.core.errors import ConfigError

from .rota import Rota

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Hours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: list[str] = Field(default_factory=lambda: list(DAYS))
    from_: str = Field("00:00", alias="from")
    to: str = "24:00"

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in DAYS]
        if bad:
            raise ValueError(f"unknown day(s) {bad}; use {DAYS}")
        return v

    @field_validator("from_", "to")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        h, _, m = v.partition(":")
        if not (h.isdigit() and m.isdigit() and 0 <= int(h) <= 24 and 0 <= int(m) < 60):
            raise ValueError(f"{v!r} is not HH:MM")
        return v

    def covers(self, at: datetime) -> bool:
        if DAYS[at.weekday()] not in self.days:
            return False
        minute = at.hour * 60 + at.minute

        def mins(s: str) -> int:
            h, m = s.split(":")
            return int(h) * 60 + int(m)
        return mins(self.from_) <= minute < mins(self.to)


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int
    role: str
    hours: Hours | str = "24/7"

    def on_duty(self, at: datetime) -> bool:
        if isinstance(self.hours, str):
            return True  # "24/7"
        return self.hours.covers(at)

    def hours_text(self) -> str:
        if isinstance(self.hours, str):
            return self.hours
        days = "" if self.hours.days == DAYS else ",".join(self.hours.days) + " "
        return f"{days}{self.hours.from_}-{self.hours.to}"


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    levels: list[Level]
    timeouts_min: list[int] = Field(min_length=3, max_length=3)
    # seed O3, no pager fatigue: these severities open a ticket for business hours and never
    # page anyone (the slow-burn alerts, a suspicious curator, an autopilot rollback)
    ticket_severities: list[str] = Field(default_factory=lambda: ["minor"])

    @field_validator("levels")
    @classmethod
    def _three(cls, v: list[Level]) -> list[Level]:
        if [lv.level for lv in v] != [1, 2, 3]:
            raise ValueError("levels must be 1, 2 and 3 in order")
        for lv in v:
            if isinstance(lv.hours, str) and lv.hours != "24/7":
                raise ValueError(f"level {lv.level}: hours is '24/7' or a from/to table")
        return v

    def level(self, n: int) -> Level:
        return self.levels[n - 1]


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
        return Policy.model_validate(data)
    except FileNotFoundError:
        raise ConfigError(f"no escalation policy at {path}", path=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML: {exc}", path=path) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}", path=path) from None


@dataclass
class Page:
    at: str
    minute: float
    level: int
    role: str
    person: str | None
    paged: bool
    note: str = ""


@dataclass
class Timeline:
    alert: str
    started: str
    acknowledged_at: str | None = None
    pages: list[Page] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def schedule(policy: Policy) -> list[tuple[float, list[int]]]:
    """``[(minute, levels)]``: L1 at 0, L2 at t1, L3 at t1+t2, all at t1+t2+t3."""
    t1, t2, t3 = policy.timeouts_min
    return [(0.0, [1]), (float(t1), [2]), (float(t1 + t2), [3]),
            (float(t1 + t2 + t3), [1, 2, 3])]


def page(policy: Policy, rota: Rota, level: int, at: datetime, minute: float) -> Page:
    lv = policy.level(level)
    person = rota.who(level, at)
    stamp = at.strftime("%Y-%m-%dT%H:%MZ")
    if not lv.on_duty(at):
        return Page(stamp, minute, level, lv.role, person, False,
                    f"off hours ({lv.hours_text()}): not paged")
    if person is None:
        return Page(stamp, minute, level, lv.role, None, False, "nobody on the rota")
    return Page(stamp, minute, level, lv.role, person, True)


def simulate(policy: Policy, rota: Rota, alert: str, at: datetime,
             ack_after_min: float | None = None) -> Timeline:
    tl = Timeline(alert, at.strftime("%Y-%m-%dT%H:%MZ"))
    for minute, levels in schedule(policy):
        if ack_after_min is not None and ack_after_min <= minute:
            break
        when = at + timedelta(minutes=minute)
        for level in levels:
            tl.pages.append(page(policy, rota, level, when, minute))
    if ack_after_min is not None:
        tl.acknowledged_at = (at + timedelta(minutes=ack_after_min)).strftime("%Y-%m-%dT%H:%MZ")
    return tl


def parse_at(text: str | None, now: datetime) -> datetime:
    """``--at``: ISO-8601 (``2026-12-06T02:30Z``); naive times are UTC."""

    if not text:
        return now
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--at {text!r} is not an ISO-8601 time (e.g. 2026-12-06T02:30Z)",
                          actual=text) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


