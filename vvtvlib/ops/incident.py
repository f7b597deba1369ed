"""Incidents: a timestamped timeline along the seed's eight steps, and the postmortem.

    open   INC id ``YYYYMMDD-HHMM-<slug>``; steps 1 (acknowledge) and 3 (channel
           ``#incident-YYYYMMDD-HHMM``) logged; IMOC (step 2) when given
    log    one timeline line for a step (``imoc``, ``channel``, ``status_page``, ``mitigate``,
           ``timeline``) with a note
    close  step 7 (close: communication and corrective action); writes
           ``ops/postmortems/PM-YYYYMMDD-<slug>.md`` (step 8: causes, actions, owners, due
           dates; review due within 48 h)

The timeline is a hash-chained evidence log (``PM-YYYYMMDD-<slug>.timeline.jsonl``) next to
the postmortem; every time comes from ``--at`` or the injected clock.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import UsageError
from vvtvlib.core.evidence import EvidenceLog
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.steps import Journal, Outcome, Step, StepContext, run_steps

# The seed's incident playbook, in order.
STEPS = {
    "acknowledge": "1. Acknowledge the alert (pager)",
    "imoc": "2. Name the IMOC (Incident Manager On Call)",
    "channel": "3. Open the channel #incident-YYYYMMDD-HHMM",
    "status_page": "4. Internal status page (severity + ETA)",
    "mitigate": "5. Mitigate with the runbook (10 min target for MAJOR)",
    "timeline": "6. Record the timeline (timestamps)",
    "close": "7. Close with communication and corrective action",
    "postmortem": "8. Postmortem within 48 h: causes, actions, owners, due dates",
}
SEVERITIES = ("critical", "major", "minor")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
INC_ID = re.compile(r"^(\d{8})-(\d{4})-([a-z0-9][a-z0-9-]*)$")


@dataclass
class Action:
    text: str
    owner: str
    due: str  # YYYY-MM-DD

    @classmethod
    def parse(cls, spec: str) -> Action:
        parts = [p.strip() for p in spec.split("|")]
        if len(parts) != 3 or not all(parts):
            raise UsageError(f"--action is 'what|owner|YYYY-MM-DD', got {spec!r}")
        try:
            datetime.strptime(parts[2], "%Y-%m-%d")
        except ValueError:
            raise UsageError(f"--action due date {parts[2]!r} is not YYYY-MM-DD") from None
        return cls(*parts)


@dataclass
class Incident:
    id: str
    slug: str
    severity: str
    summary: str
    opened: str
    channel: str
    folder: str
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def timeline_path(self) -> Path:
        return Path(self.folder) / f"PM-{self.id[:8]}-{self.slug}.timeline.jsonl"

    @property
    def postmortem_path(self) -> Path:
        return Path(self.folder) / f"PM-{self.id[:8]}-{self.slug}.md"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "timeline_path": str(self.timeline_path),
                "postmortem_path": str(self.postmortem_path)}


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _log(inc: Incident, step: str, note: str, at: datetime, clock: Clock, **extra: Any
         ) -> dict[str, Any]:
    if step not in STEPS:
        raise UsageError(f"--step is one of {', '.join(STEPS)}, not {step!r}")
    rec = {"incident": inc.id, "step": step, "title": STEPS[step], "at": _stamp(at),
           "note": note, **extra}
    EvidenceLog(inc.timeline_path, clock=clock).append(rec)
    inc.timeline.append(rec)
    return rec


def load_incident(folder: Path, inc_id: str) -> Incident:
    m = INC_ID.match(inc_id)
    if not m:
        raise UsageError(f"{inc_id!r} is not an incident id (YYYYMMDD-HHMM-slug)")
    path = folder / f"PM-{m.group(1)}-{m.group(3)}.timeline.jsonl"
    try:
        lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    except FileNotFoundError:
        raise UsageError(f"no incident {inc_id} in {folder}", path=path) from None
    first = next((x for x in lines if x.get("step") == "acknowledge" and "severity" in x), None)
    if first is None or first.get("incident") != inc_id:
        raise UsageError(f"{path} does not start incident {inc_id}", path=path)
    return Incident(inc_id, m.group(3), first["severity"], first["summary"], first["at"],
                    first["channel"], str(folder), lines)


def open_incident(folder: Path, slug: str, severity: str, summary: str, *,
                  imoc: str | None = None, at: datetime | None = None,
                  clock: Clock = SYSTEM_CLOCK) -> Incident:
    if not SLUG.match(slug):
        raise UsageError(f"--slug must be lower-case letters, digits and dashes, got {slug!r}")
    if severity not in SEVERITIES:
        raise UsageError(f"--severity is one of {', '.join(SEVERITIES)}, not {severity!r}")
    at = at or clock.now()
    inc_id = f"{at:%Y%m%d-%H%M}-{slug}"
    channel = f"#incident-{at:%Y%m%d-%H%M}"
    inc = Incident(inc_id, slug, severity, summary, _stamp(at), channel, str(folder))
    if inc.timeline_path.exists():
        raise UsageError(f"incident {inc_id} is already open ({inc.timeline_path})")
    folder.mkdir(parents=True, exist_ok=True)
    journal = Journal()

    def ack(ctx: StepContext) -> Outcome:
        _log(inc, "acknowledge", summary, at, clock, severity=severity, summary=summary,
             channel=channel)
        return Outcome("acknowledged")

    def name_imoc(ctx: StepContext) -> Outcome:
        if not imoc:
            ctx.skip("no --imoc yet")
            return Outcome(skipped=True)
        _log(inc, "imoc", imoc, at, clock)
        return Outcome(f"IMOC {imoc}")

    def channel_step(ctx: StepContext) -> Outcome:
        _log(inc, "channel", channel, at, clock)
        return Outcome(channel)

    run_steps([Step("acknowledge", ack), Step("imoc", name_imoc),
               Step("channel", channel_step)], journal, clock=clock)
    return inc


def log_step(folder: Path, inc_id: str, step: str, note: str, *, at: datetime | None = None,
             clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    inc = load_incident(folder, inc_id)
    if any(x.get("step") == "close" for x in inc.timeline):
        raise UsageError(f"incident {inc_id} is closed")
    if step in ("acknowledge", "close", "postmortem"):
        raise UsageError(f"step {step} is logged by `incident open`/`incident close`")
    return _log(inc, step, note, at or clock.now(), clock)


def close_incident(folder: Path, inc_id: str, *, causes: list[str], actions: list[Action],
                   communication: str, at: datetime | None = None,
                   clock: Clock = SYSTEM_CLOCK) -> Path:
    inc = load_incident(folder, inc_id)
    if any(x.get("step") == "close" for x in inc.timeline):
        raise UsageError(f"incident {inc_id} is already closed")
    if not causes:
        raise UsageError("give at least one --cause")
    if not actions:
        raise UsageError("give at least one --action 'what|owner|YYYY-MM-DD' (corrective)")
    at = at or clock.now()
    journal = Journal()

    def close(ctx: StepContext) -> Outcome:
        _log(inc, "close", communication, at, clock,
             actions=[asdict(a) for a in actions])
        return Outcome("closed")

    def postmortem(ctx: StepContext) -> Outcome:
        due = at + timedelta(hours=48)
        _log(inc, "postmortem", f"postmortem due {_stamp(due)}", at, clock,
             path=str(inc.postmortem_path))
        atomic_write(inc.postmortem_path, render_postmortem(inc, causes, actions, due))
        return Outcome(str(inc.postmortem_path))

    run_steps([Step("close", close), Step("postmortem", postmortem)], journal, clock=clock)
    return inc.postmortem_path


def render_postmortem(inc: Incident, causes: list[str], actions: list[Action],
                      due: datetime) -> str:
    opened = datetime.fromisoformat(inc.opened.replace("Z", "+00:00"))
    closed = next(x for x in reversed(inc.timeline) if x["step"] == "close")["at"]
    duration = datetime.fromisoformat(closed.replace("Z", "+00:00")) - opened
    lines = [f"# PM-{inc.id[:8]}-{inc.slug} — {inc.summary}", "",
             f"* **Incident**: `{inc.id}` ({inc.severity}), channel `{inc.channel}`",
             f"* **Opened**: {inc.opened}; **closed**: {closed} "
             f"({int(duration.total_seconds() // 60)} min)",
             f"* **Postmortem review due**: {_stamp(due)} (48 h)", "",
             "## Timeline (UTC)", "", "| at | step | note |", "|---|---|---|"]
    for x in inc.timeline:
        note = str(x.get("note", "")).replace("|", "\\|")
        lines.append(f"| {x['at']} | {x['title']} | {note} |")
    missing = [STEPS[s] for s in ("imoc", "status_page", "mitigate")
               if not any(x["step"] == s for x in inc.timeline)]
    lines += ["", "## Causes", ""] + [f"{i}. {c}" for i, c in enumerate(causes, 1)]
    lines += ["", "## Corrective actions", "", "| action | owner | due |", "|---|---|---|"]
    lines += [f"| {a.text} | {a.owner} | {a.due} |" for a in actions]
    lines += ["", "## Playbook steps not logged", ""]
    lines += [f"- {m}" for m in missing] or ["- none"]
    lines += ["", f"Timeline evidence: `{inc.timeline_path.name}` (hash-chained; "
              "`vvtvctl evidence verify` checks it).", ""]
    return "\n".join(lines)
