"""``lockdown``: from a station whose ritual has run to a hibernating, guarded vault.

Steps (each journaled): not already hibernating -> the newest snapshot verifies -> workers
paused, queue frozen, services down -> keys expiring within the horizon listed and rotated ->
business databases read-only -> snapshots and manifests immutable -> the guardian baseline
written and anchored in the signed manifest -> ``{"state": "hibernating"}`` appended ->
guardian started. Re-running after a crash is safe: every step is idempotent, and the state
line is written only once everything before it held.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import IntegrityError, UsageError
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.steps import Outcome, StepObserver
from vvtvlib.guardian.baseline import build_baseline, write_baseline
from vvtvlib.guardian.paths import GuardianPaths
from vvtvlib.guardian.process import start_detached
from vvtvlib.guardian.statelog import HIBERNATING, append_state, current_state
from vvtvlib.guardian.trust import pinned_keys, verify_manifests

from .dbstate import database_files
from .immutability import Applied, Method, apply_immutability, readonly_files
from .keys import key_statuses, rotate_key
from .report import ChecklistReport, run_checklist
from .services import Station, StationPort
from .snapshot import VerifiedSnapshot, newest_verified_snapshot

STEPS = [
    ("state", "Station is not already hibernating"),
    ("snapshot", "Newest snapshot verifies against its signed manifest"),
    ("services", "Workers paused, queue frozen, services down"),
    ("keys", "Keys expiring within the horizon listed and rotated"),
    ("databases", "Business databases read-only"),
    ("immutability", "Snapshots and manifests immutable"),
    ("baseline", "Guardian baseline recorded and anchored in the signed manifest"),
    ("state_hibernating", "State log: hibernating"),
    ("guardian", "Guardian started"),
]


@dataclass
class LockdownOptions:
    guardian: bool = True
    immutability: Method = "auto"
    rotate_keys: bool = True
    key_horizon_days: float = 60.0
    guardian_interval_s: float | None = None
    guardian_sample: int | None = None
    guardian_args: tuple[str, ...] = ()


def journal_path(layout: StationLayout) -> Path:
    return layout.vault / "hibernation_journal.jsonl"


def lockdown(layout: StationLayout, options: LockdownOptions | None = None, *,
             clock: Clock = SYSTEM_CLOCK, observer: StepObserver | None = None,
             station: StationPort | None = None) -> ChecklistReport:
    """Run the lockdown checklist; the report says what was applied per step. A failing step
    stops it: its error is raised with the report attached (``exc.journal``)."""
    options = options or LockdownOptions()
    paths = GuardianPaths(layout)
    station = station or Station(layout)
    report = ChecklistReport(kind="lockdown")
    ctx: dict[str, Any] = {}

    def state() -> Outcome:
        current = current_state(paths)
        if current is not None and current.hibernating:
            raise UsageError(f"{layout.root} is already hibernating since {current.ts} "
                             f"(snapshot {current.snapshot}); run vvtvctl resume first",
                             path=paths.state_log)
        return Outcome("awake" if current else "never hibernated")

    def snapshot() -> Outcome:
        found: VerifiedSnapshot = newest_verified_snapshot(layout)
        ctx["snapshot"] = found
        detail = f"{found.stamp} verified (key {found.key_id})"
        if found.skipped:
            detail += "; newer folders that did not verify: " + ", ".join(
                s["folder"] for s in found.skipped)
        return Outcome(detail, found.to_dict(), warn=bool(found.skipped))

    def services() -> Outcome:
        if not layout.db("control").exists():
            return Outcome(f"no station at {layout.root} (no control database)", skipped=True)
        station.freeze()
        was_up = station.down()
        return Outcome("station stopped" if was_up else "station was already down",
                       {"was_up": was_up})

    def keys() -> Outcome:
        statuses = key_statuses(layout, within_days=options.key_horizon_days, clock=clock)
        rotated, manual = [], []
        for ks in statuses:
            if not ks.due:
                continue
            if ks.rotation == "minisign" and options.rotate_keys:
                rotated.append(rotate_key(layout, ks.key, clock=clock,
                                          reason=f"expires within {options.key_horizon_days:g} "
                                                 "days at lockdown").to_dict())
            else:
                manual.append(ks.key)
        parts = [f"{len(statuses)} key(s)"]
        parts += [f"{r['key']} rotated {r['old_key_id']} -> {r['new_key_id']}" for r in rotated]
        parts += [f"{k} expires soon: rotate it by hand" for k in manual]
        parts += [f"{ks.key}: no recorded expiry" for ks in statuses if ks.expires_utc is None]
        return Outcome("; ".join(parts), {"keys": [k.to_dict() for k in statuses],
                                          "rotated": rotated, "manual": manual},
                       warn=bool(manual))

    def databases() -> Outcome:
        modes = readonly_files(database_files(layout))
        ctx["databases"] = [{"path": paths.rel(Path(p)), "original_mode": f"{m:04o}"}
                            for p, m in sorted(modes.items())]
        return Outcome(f"{len(modes)} database file(s) read-only", {"files": ctx["databases"]})

    def immutability() -> Outcome:
        applied: Applied = apply_immutability(paths, options.immutability)
        ctx["applied"] = applied
        summary = applied.summary()
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.items()))
        return Outcome(detail or "nothing to protect", {"per_path": applied.per_path,
                                                        "summary": summary})

    def baseline() -> Outcome:
        applied: Applied = ctx["applied"]
        found: VerifiedSnapshot = ctx["snapshot"]
        base = build_baseline(paths, snapshot=found.stamp,
                              original_modes=applied.original_modes,
                              databases=ctx.get("databases", []), clock=clock)
        differs = [e.path for e in base.entries
                   if applied.per_path.get(e.path, e.immutability) != e.immutability]
        if differs:
            raise IntegrityError(f"immutability did not hold on {differs[0]} "
                                 f"({len(differs)} path(s))", path=differs[0])
        verify_manifests(paths, base, pinned_keys(layout))
        ctx["baseline_sha256"] = write_baseline(paths.baseline, base)
        ctx["summary"] = base.immutability_summary()
        return Outcome(f"{len(base.entries)} paths, {len(base.files)} files hashed",
                       {"baseline": paths.rel(paths.baseline),
                        "baseline_sha256": ctx["baseline_sha256"],
                        "immutability": ctx["summary"]})

    def hibernating() -> Outcome:
        entry = append_state(paths, {"state": HIBERNATING, "snapshot": ctx["snapshot"].stamp,
                                     "baseline_sha256": ctx["baseline_sha256"],
                                     "immutability": ctx["summary"],
                                     "run_id": report.run_id}, clock)
        return Outcome(f"line {entry['seq']} of {paths.rel(paths.state_log)}",
                       {"seq": entry["seq"]})

    def guardian() -> Outcome:
        if not options.guardian:
            return Outcome("not started (--no-guardian)", skipped=True)
        started = start_detached(paths, interval_s=options.guardian_interval_s,
                                 sample=options.guardian_sample,
                                 extra=list(options.guardian_args))
        return Outcome(f"sleepguardd pid {started.pid}", {"pid": started.pid,
                                                          "log": started.log})

    steps = {"state": state, "snapshot": snapshot, "services": services, "keys": keys,
             "databases": databases, "immutability": immutability, "baseline": baseline,
             "state_hibernating": hibernating, "guardian": guardian}
    try:
        return run_checklist(report, STEPS, steps, journal_path(layout), clock, observer)
    finally:
        if "snapshot" in ctx:
            report.data["snapshot"] = ctx["snapshot"].stamp
        if "baseline_sha256" in ctx:
            report.data["baseline_sha256"] = ctx["baseline_sha256"]
