"""``resume``: from a hibernating vault back to a broadcasting station, with proof.

Checklist (each step journaled, the first failure stops it before anything is brought up on
unproven state): hibernating -> guardian stopped -> guardian report chain intact (alerts since
lockdown listed) -> the snapshot verifies fully and the guarded tree still equals the baseline
-> databases equal the manifest (no state lost) -> immutability reversed -> in the seed's safe
order: HTTP/nginx without ingest, databases read-write, planner/realizer/discovery resumed and
queue freeze off, broadcaster ingest -> station healthy and playout resuming where it froze ->
``{"state": "awake"}`` appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import IntegrityError, TimedOut, UsageError
from vvtvlib.core.evidence import EvidenceLog, verify_chain
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.steps import Outcome, StepObserver
from vvtvlib.core.wait import wait_until
from vvtvlib.guardian.baseline import Baseline, load_baseline
from vvtvlib.guardian.cycle import run_cycle
from vvtvlib.guardian.options import GuardianOptions
from vvtvlib.guardian.paths import GuardianPaths
from vvtvlib.guardian.process import stop_guardian
from vvtvlib.guardian.rotation import RotationState
from vvtvlib.guardian.statelog import AWAKE, append_state, current_state
from vvtvlib.guardian.trust import pinned_keys
from vvtvlib.vault.sqlite import integrity_check

from .dbstate import prove_state
from .immutability import release_immutability, restore_modes
from .lockdown import journal_path
from .report import ChecklistReport, run_checklist
from .services import WORKERS, Station, StationPort
from .snapshot import VerifiedSnapshot, verify_folder

if TYPE_CHECKING:
    from vvtvlib.station.api import StationStatus

STEPS = [
    ("state", "Station is hibernating"),
    ("guardian_stop", "Guardian stopped"),
    ("guardian_report", "Guardian report intact; alerts since lockdown listed"),
    ("verify", "Snapshot verifies fully; guarded tree equals the baseline"),
    ("state_proof", "No state lost: databases equal the signed manifest"),
    ("flags", "Immutability reversed"),
    ("http", "HTTP/nginx up without ingest"),
    ("databases", "Databases read-write"),
    ("workers", "Planner, realizer, discovery resumed; queue freeze off"),
    ("broadcaster", "Broadcaster ingest on"),
    ("healthy", "Station healthy; playout resumes where it froze"),
    ("state_awake", "State log: awake"),
]


@dataclass
class ResumeOptions:
    station_timeout_s: float = 120.0
    guardian_timeout_s: float = 30.0
    force: bool = False  # resume a vault whose lockdown did not finish


def resume(layout: StationLayout, options: ResumeOptions | None = None, *,
           clock: Clock = SYSTEM_CLOCK, observer: StepObserver | None = None,
           station: StationPort | None = None) -> ChecklistReport:
    options = options or ResumeOptions()
    paths = GuardianPaths(layout)
    station = station or Station(layout)
    report = ChecklistReport(kind="resume")
    has_station = layout.db("control").exists()
    ctx: dict[str, Any] = {}

    def state() -> Outcome:
        current = current_state(paths)
        if (current is None or not current.hibernating) and not options.force:
            raise UsageError(f"{layout.root} is not hibernating (last state: "
                             f"{current.state if current else 'none'}); nothing to resume",
                             path=paths.state_log)
        baseline, sha = load_baseline(paths.baseline)
        if current and current.baseline_sha256 not in (None, sha) and not options.force:
            raise IntegrityError("the guardian baseline changed after lockdown",
                                 path=paths.baseline, expected=current.baseline_sha256,
                                 actual=sha)
        ctx["baseline"], ctx["since"] = baseline, current.ts if current else ""
        return Outcome(f"hibernating since {ctx['since']} (snapshot {baseline.snapshot})",
                       {"snapshot": baseline.snapshot, "baseline_sha256": sha})

    def guardian_stop() -> Outcome:
        pid = stop_guardian(paths, timeout_s=options.guardian_timeout_s)
        return Outcome(f"sleepguardd pid {pid} stopped" if pid else "no guardian was running",
                       {"pid": pid})

    def guardian_report() -> Outcome:
        tamper = EvidenceLog(paths.tamper)
        alerts_t = [e for e in tamper.entries()
                    if e.get("type") == "tamper" and e.get("ts", "") >= ctx["since"]]
        if alerts_t:
            raise IntegrityError(f"the guardian found its report tampered with since lockdown: "
                                 f"{alerts_t[-1].get('reason')} ({len(alerts_t)} alert(s) in "
                                 f"{paths.tamper})", path=paths.tamper)
        if not paths.report.exists() and EvidenceLog(paths.report).head() is None:
            return Outcome("no guardian report (the guardian never ran)", warn=True)
        chain = verify_chain(paths.report)
        if not chain.ok:
            raise IntegrityError(f"guardian report chain broken at line {chain.first_bad_line}: "
                                 f"{chain.reason}", path=paths.report)
        lines = [e for e in EvidenceLog(paths.report).entries() if e.get("ts", "") >= ctx["since"]]
        cycles = [e for e in lines if e.get("type") == "cycle"]
        alerts = [e for e in lines if e.get("alert")]
        paths_hit = sorted({d["path"] for e in alerts for d in e.get("divergences", [])})
        detail = f"{len(cycles)} cycle(s), {len(alerts)} alert line(s) since lockdown"
        if paths_hit:
            detail += ": " + ", ".join(paths_hit[:5])
        return Outcome(detail, {"cycles": len(cycles), "alerts": len(alerts),
                                "paths": paths_hit}, warn=bool(alerts))

    def verify() -> Outcome:
        baseline: Baseline = ctx["baseline"]
        if not baseline.snapshot:
            raise UsageError("the baseline names no snapshot; it was not written by lockdown")
        found: VerifiedSnapshot = verify_folder(layout.snapshots / baseline.snapshot,
                                                pinned_keys(layout))
        ctx["manifest"] = found.manifest
        full = run_cycle(paths, baseline, RotationState("resume"),
                         GuardianOptions(sample=1, byte_budget=0, min_free_pct=0, watch=False))
        if full.divergences:
            first = full.divergences[0]
            raise IntegrityError(f"the guarded tree differs from the lockdown baseline: "
                                 f"{first.sentence()} ({len(full.divergences)} divergence(s))",
                                 path=first.path,
                                 divergences=[d.to_dict() for d in full.divergences])
        return Outcome(f"{found.stamp}: signature by {found.key_id}, {full.files_hashed} files "
                       f"({full.bytes_hashed} bytes) re-hashed, no divergence",
                       {"snapshot": found.to_dict(), "files_hashed": full.files_hashed,
                        "bytes_hashed": full.bytes_hashed})

    def state_proof() -> Outcome:
        proof = prove_state(layout, ctx["manifest"])
        ctx["proof"] = proof
        if not proof.ok:
            first = proof.mismatches[0] if proof.mismatches else {"kind": "no database recorded"}
            raise IntegrityError(f"state was lost: {first.get('database', '')} "
                                 f"{first.get('table', '')} {first['kind']}".replace("  ", " "),
                                 mismatches=proof.mismatches)
        return Outcome(f"{proof.databases} database(s), {proof.tables} table(s), {proof.rows} "
                       "rows: counts and ordered digests equal the manifest", proof.to_dict())

    def flags() -> Outcome:
        released = release_immutability(paths, ctx["baseline"])
        return Outcome(f"{len(released.flags_cleared)} flag(s) cleared, "
                       f"{len(released.modes_restored)} mode(s) restored",
                       {"flags_cleared": len(released.flags_cleared),
                        "modes_restored": len(released.modes_restored),
                        "missing": released.missing})

    def http() -> Outcome:
        if not has_station:
            return Outcome("no station at this root", skipped=True)
        station.up_without_ingest(options.station_timeout_s)
        return Outcome("supervisor and HTTP up, ingest off")

    def databases() -> Outcome:
        baseline: Baseline = ctx["baseline"]
        modes = {str(layout.root / d["path"]): int(str(d["original_mode"]), 8)
                 for d in baseline.databases}
        restored = restore_modes(modes)
        problems = {Path(p).name: integrity_check(p) for p in restored
                    if p.endswith(".sqlite")}
        bad = {k: v for k, v in problems.items() if v}
        if bad:
            name, issues = next(iter(bad.items()))
            raise IntegrityError(f"{name}: integrity_check failed: {issues[0]}", path=name)
        return Outcome(f"{len(restored)} file(s) read-write, integrity_check ok",
                       {"files": [Path(p).name for p in restored]})

    def workers() -> Outcome:
        if not has_station:
            return Outcome("no station at this root", skipped=True)
        station.resume_workers()
        return Outcome(", ".join(WORKERS) + " resumed; queue unfrozen")

    def broadcaster() -> Outcome:
        if not has_station:
            return Outcome("no station at this root", skipped=True)
        ctx["playout_mark"] = station.playout_mark()
        station.start_broadcaster()
        return Outcome("broadcaster started")

    def healthy() -> Outcome:
        if not has_station:
            return Outcome("no station at this root", skipped=True)
        status = _wait_healthy(station, options.station_timeout_s)
        manifest = ctx["manifest"]
        expected_item = manifest.playout.item_id if manifest.playout else None
        first = station.first_playout(ctx.get("playout_mark", 0), options.station_timeout_s)
        data = {"status": status.to_dict(),
                "first_playout": None if first is None else first.to_dict(),
                "expected_item": expected_item}
        if expected_item is None or first is None:
            return Outcome("healthy; playout position not checked (none recorded or seen)",
                           data, warn=True)
        if first.item_id != expected_item:
            raise IntegrityError(f"playout resumed on item {first.item_id}, the ritual "
                                 f"froze on {expected_item}", expected=expected_item,
                                 actual=first.item_id)
        return Outcome(f"healthy; playout resumed on {expected_item} at "
                       f"{first.offset_s} s", data)

    def awake() -> Outcome:
        entry = append_state(paths, {"state": AWAKE, "snapshot": ctx["baseline"].snapshot,
                                     "run_id": report.run_id}, clock)
        return Outcome(f"line {entry['seq']} of {paths.rel(paths.state_log)}",
                       {"seq": entry["seq"]})

    steps = {"state": state, "guardian_stop": guardian_stop,
             "guardian_report": guardian_report, "verify": verify, "state_proof": state_proof,
             "flags": flags, "http": http, "databases": databases, "workers": workers,
             "broadcaster": broadcaster, "healthy": healthy, "state_awake": awake}
    try:
        return run_checklist(report, STEPS, steps, journal_path(layout), clock, observer)
    finally:
        if "proof" in ctx:
            report.data["state_proof"] = ctx["proof"].to_dict()


def _wait_healthy(station: StationPort, timeout_s: float) -> StationStatus:
    problems: list[str] = []

    def healthy() -> StationStatus | None:
        nonlocal problems
        status = station.status()
        problems = health_problems(status)
        return None if problems else status

    return wait_until(healthy, timeout_s, 0.25, on_timeout=lambda: TimedOut(
        f"station not healthy after {timeout_s:g} s: {'; '.join(problems)}"))


def health_problems(status: StationStatus) -> list[str]:
    """Pure: what keeps a status from being healthy after resume."""
    out = []
    if not status.up:
        out.append("supervisor not up")
    paused = [w for w, p in status.paused.items() if p]
    if paused:
        out.append("paused: " + ", ".join(sorted(paused)))
    if status.queue_frozen:
        out.append("queue frozen")
    if not status.playing:
        out.append("nothing playing")
    return out


__all__ = ["STEPS", "ResumeOptions", "health_problems", "resume"]
