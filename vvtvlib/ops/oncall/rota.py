"""The weekly rota: one VEVENT per person and level, repeating every N weeks (RFC 5545)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
from dateutil.rrule import rrulestr

from vvtvlib.core.errors import ConfigError

# The lab's teams, one list per level; week k of the rota is person k mod len(list).
TEAMS: dict[int, list[str]] = {
    1: ["ana.operator", "bruno.operator", "carla.operator"],
    2: ["diego.sre", "elisa.sre"],
    3: ["fabio.prodeng", "gabi.prodeng"],
}
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC: shifts hand over then


def build_rota(teams: dict[int, list[str]] = TEAMS, epoch: datetime = EPOCH
               ) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//VVTV Ops Lab//on-call rota//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "VVTV on-call rota")
    for level, people in sorted(teams.items()):
        for k, person in enumerate(people):
            ev = icalendar.Event()
            start = epoch + timedelta(weeks=k)
            ev.add("uid", f"oncall-l{level}-{person}@vvtv.lab")
            ev.add("dtstamp", epoch)
            ev.add("dtstart", start)
            ev.add("dtend", start + timedelta(weeks=1))
            ev.add("rrule", {"freq": "weekly", "interval": len(people)})
            ev.add("summary", f"L{level} on-call: {person}")
            ev.add("categories", [f"L{level}"])
            ev.add("x-vvtv-level", str(level))
            ev.add("x-vvtv-person", person)
            cal.add_component(ev)
    return cal


@dataclass(frozen=True)
class Shift:
    level: int
    person: str
    start: datetime
    weeks: int  # the rule's interval


class Rota:
    def __init__(self, shifts: list[Shift]) -> None:
        self.shifts = shifts

    @classmethod
    def load(cls, path: str | Path) -> Rota:
        path = Path(path)
        try:
            cal = icalendar.Calendar.from_ical(path.read_bytes())
        except FileNotFoundError:
            raise ConfigError(f"no rota at {path}", path=path) from None
        except ValueError as exc:
            raise ConfigError(f"{path}: not an iCalendar file: {exc}", path=path) from None
        shifts: list[Shift] = []
        for ev in cal.walk("VEVENT"):
            try:
                level = int(str(ev.get("x-vvtv-level")))
                person = str(ev.get("x-vvtv-person"))
                start = ev.decoded("dtstart")
                rule = rrulestr(ev.get("rrule").to_ical().decode(), dtstart=start)
                weeks = int(rule._interval)  # noqa: SLF001 - dateutil keeps it there
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                raise ConfigError(f"{path}: a shift lacks level, person, start or a weekly "
                                  f"rule ({exc})", path=path) from None
            shifts.append(Shift(level, person, start.astimezone(UTC), weeks))
        if not shifts:
            raise ConfigError(f"{path}: no shifts", path=path)
        return cls(shifts)

    def who(self, level: int, at: datetime) -> str | None:
        for s in self.shifts:
            if s.level != level or at < s.start:
                continue
            weeks = (at - s.start) // timedelta(weeks=1)
            if weeks % s.weeks == 0:
                return s.person
        return None

    def levels(self) -> list[int]:
        return sorted({s.level for s in self.shifts})
