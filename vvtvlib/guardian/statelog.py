"""The hibernation state log ``vault/sleepguard_state.jsonl`` (hash-chained): lockdown appends
``{"state": "hibernating", "baseline_sha256": ...}``, resume appends ``{"state": "awake"}``, and
a guardian that had to establish its own baseline appends ``{"event": "baseline", ...}``.
The last baseline hash recorded since the last ``awake`` is the pinned one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import IntegrityError
from vvtvlib.core.evidence import EvidenceLog, verify_chain

from .paths import GuardianPaths

HIBERNATING, AWAKE = "hibernating", "awake"


def _entries(paths: GuardianPaths) -> list[dict[str, Any]]:
    if not paths.state_log.exists():
        return []
    report = verify_chain(paths.state_log)
    if not report.ok:
        raise IntegrityError(f"state log {paths.state_log} is not intact: line "
                             f"{report.first_bad_line}: {report.reason}", path=paths.state_log)
    return list(EvidenceLog(paths.state_log).entries())


@dataclass(frozen=True)
class StateLine:
    """A ``state`` line of the state log: what the station is, since when, and the snapshot
    and baseline lockdown pinned (resume's ``awake`` line names no baseline)."""

    state: str
    ts: str
    seq: int
    snapshot: str | None = None
    baseline_sha256: str | None = None
    run_id: str | None = None

    @property
    def hibernating(self) -> bool:
        return self.state == HIBERNATING

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> StateLine:
        return cls(state=str(entry["state"]), ts=str(entry.get("ts", "")),
                   seq=int(entry.get("seq", 0)), snapshot=entry.get("snapshot"),
                   baseline_sha256=entry.get("baseline_sha256"), run_id=entry.get("run_id"))


def current_state(paths: GuardianPaths) -> StateLine | None:
    """The last ``state`` line (None: never locked down)."""
    states = [e for e in _entries(paths) if "state" in e]
    return StateLine.from_entry(states[-1]) if states else None


def pinned_baseline(paths: GuardianPaths) -> str | None:
    pinned = None
    for entry in _entries(paths):
        if entry.get("state") == AWAKE:
            pinned = None
        elif entry.get("baseline_sha256"):
            pinned = entry["baseline_sha256"]
    return pinned


def append_state(paths: GuardianPaths, record: dict[str, Any],
                 clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    return EvidenceLog(paths.state_log, clock=clock).append(record)
