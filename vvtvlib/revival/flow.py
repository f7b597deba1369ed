"""``revive(options, observer) -> RevivalReport``: the seed's M3 flow, phase by phase.

    provision -> verify -> restore -> sanity -> continuity -> reactivation -> report

Each phase is a step of the core runner (``core.steps``): timed by the injected clock, one
hash-chained line in ``vault/resurrection_report.jsonl``, announced to the observer.
Nothing touches the target before verify has passed; a refusal writes the failure report to
``options.report_path`` (naming the archive or file, expected and actual hash) and raises the
error that stopped it with the report attached (``exc.journal``). Phase timings add up to
the RTO.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.errors import (
    CheckFailed,
    DependencyMissing,
    IntegrityError,
    UsageError,
    VVTVError,
)
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.steps import (
    EvidenceObserver,
    Step,
    StepContext,
    StepObserver,
    as_error,
    run_steps,
)
from vvtvlib.vault.folder import FINAL_FRAME, MANIFEST, SIGNATURE
from vvtvlib.vault.history import check_rollback, newest_generation
from vvtvlib.vault.schema import load_manifest
from vvtvlib.vault.trust import PUBKEY_SOURCE

from . import station_port
from .blocklist import load_blocklist
from .continuity import ContinuityVerdict
from .options import RevivalOptions
from .phases import Finding, Phase, RevivalReport
from .presets import Adaptation
from .provision import inspect_target, needed_bytes, node_versions
from .report import (
    JSONL_NAME,
    REPORT_NAME,
    PhaseLog,
    ensure_node_key,
    phase_line,
    record_lineage,
    report_location,
    sign_report,
    write_json,
)
from .restore import (
    content_gate,
    migrate_from_schema,
    move_into_target,
    remove_tree,
    restore_to_staging,
    staging_root,
)
from .sanity import adapt_encoder_preset, check_databases, compare_versions
from .verify import TrustAnchor, VerifiedSnapshot, minisign_cross_check, trust_for, verify


@dataclass
class _State:
    layout: StationLayout
    target_existed: bool = False
    target_written: bool = False
    anchor: TrustAnchor | None = None
    verified: VerifiedSnapshot | None = None
    staging: Path | None = None
    station_started: bool = False
    adaptation: Adaptation | None = None
    verdict: ContinuityVerdict | None = None
    created_parents: list[Path] = field(default_factory=list)


class PhaseContext:
    """What a phase body is handed: the core step context plus the report's findings."""

    def __init__(self, ctx: StepContext, report: RevivalReport) -> None:
        self.ctx, self.report = ctx, report
        self.phase = Phase(ctx.record.name)

    @property
    def detail(self) -> dict[str, Any]:
        return self.ctx.detail

    def say(self, message: str) -> None:
        self.ctx.progress(message)

    def warn(self, what: str, message: str, *, recorded: Any = None, found: Any = None,
             critical: bool = False) -> Finding:
        finding = Finding(self.phase, what, message, recorded, found,
                          "critical" if critical else "warning")
        self.report.warnings.append(finding)
        self.ctx.warn(message)
        return finding

    def diverge(self, what: str, message: str, *, recorded: Any, found: Any,
                critical: bool = False) -> Finding:
        finding = Finding(self.phase, what, message, recorded, found,
                          "critical" if critical else "warning")
        self.report.divergences.append(finding)
        self.ctx.warn(message)
        return finding

    def correct(self, what: str, message: str, *, recorded: Any, found: Any) -> Finding:
        finding = Finding(self.phase, what, message, recorded, found, "info")
        self.report.corrections.append(finding)
        return finding

    def skip(self, reason: str) -> None:
        self.ctx.skip(reason)
        self.ctx.detail["skipped"] = reason


def revive(options: RevivalOptions, observer: StepObserver | None = None,
           clock: Clock = SYSTEM_CLOCK) -> RevivalReport:
    """Run the revival; returns the report, or raises the error that stopped it with the
    report attached (``exc.journal``) after writing the failure report."""
    # Decided before any work: never inside the target, never a folder (UsageError, exit 2).
    options.report_path = report_location(options.report_path, options.target,
                                          options.snapshots)
    report = RevivalReport(snapshots=str(options.snapshots), target=str(options.target),
                           started_utc=utc_iso(clock.now()), options=options.to_dict())
    log = PhaseLog()
    revival_id = secrets.token_hex(6)
    state = _State(StationLayout.at(options.target))

    def phase(name: Phase, body: Any) -> Step:
        return Step(str(name), lambda ctx: body(options, state, PhaseContext(ctx, report), report))

    def restore(options: RevivalOptions, state: _State, ph: PhaseContext,
                report: RevivalReport) -> None:
        _restore(options, state, ph, report)
        log.open(state.layout)

    steps = [phase(Phase.PROVISION, _provision), phase(Phase.VERIFY, _verify),
             phase(Phase.RESTORE, restore), phase(Phase.SANITY, _sanity),
             phase(Phase.CONTINUITY, _continuity), phase(Phase.REACTIVATION, _reactivate),
             phase(Phase.REPORT, _report)]
    observers = [EvidenceObserver(log, lambda record: phase_line(record, revival_id)),
                 *([observer] if observer is not None else [])]
    try:
        run_steps(steps, report, observers, clock)
        report.status = "succeeded"
        report.finished_utc = utc_iso(clock.now())
        _publish(options, state, report, log, revival_id)
        if not options.leave_running and state.station_started:
            station_port.stop(state.layout)
        return report
    except (Exception, KeyboardInterrupt) as exc:
        error = as_error(exc)
        _fail(options, state, report, error, log, revival_id, clock)
        error.attach(report)
        if error is exc:
            raise
        raise error from exc


# ---------------------------------------------------------------- phases


def _report(options: RevivalOptions, state: _State, ph: PhaseContext,
            report: RevivalReport) -> None:
    ph.detail["node_key_created"] = ensure_node_key(state.layout)[2]
    ph.detail["history"] = str(state.layout.history)
    newest = newest_generation(state.layout.history)
    report.new_generation = max(newest, report.source_generation or 0) + 1


def _provision(options: RevivalOptions, state: _State, ph: PhaseContext,
               report: RevivalReport) -> None:
    if not options.snapshots.is_dir():
        raise UsageError(f"snapshot folder {options.snapshots} does not exist",
                         path=options.snapshots)
    assert options.manifest is not None
    # Read, not trusted: only the profile and sizes are used before verification, and a
    # manifest that does not even parse is left for the verify phase to refuse.
    try:
        manifest = load_manifest(options.manifest)
    except IntegrityError as exc:
        manifest = None
        ph.warn("manifest", f"manifest not readable before verification: {exc.message}")
    tools = node_versions(manifest.profile if manifest else "embedded")
    report.versions = {"node": tools.versions,
                       "manifest": manifest.versions.model_dump() if manifest else {}}
    for tool in tools.missing_optional:
        message = f"optional tool {tool} is not installed on this node"
        if options.strict:
            raise DependencyMissing(message + " (--strict)", tool=tool)
        ph.warn(f"tool:{tool}", message)
    target = inspect_target(options.target)
    state.target_existed = target.exists
    ph.detail["target"] = target.to_dict()
    if not target.empty and not options.force:
        raise UsageError(f"target {options.target} is not empty ({', '.join(target.foreign[:3])}"
                         f"{' ...' if len(target.foreign) > 3 else ''}); use --force to revive "
                         "into it anyway", path=options.target)
    need, free = (needed_bytes(manifest) if manifest else 0), _free(options.target)
    ph.detail.update(needed_bytes=need, free_bytes=free)
    if free < need:
        raise DependencyMissing(f"not enough free space for the restore: need {need} bytes, "
                                f"{free} free", path=options.target, expected=need, actual=free)
    ph.say(f"tools ok; ffmpeg {tools.versions.get('ffmpeg')}; {need >> 20} MiB needed")


def _free(target: Path) -> int:
    from .provision import free_bytes

    return free_bytes(target)


def _verify(options: RevivalOptions, state: _State, ph: PhaseContext,
            report: RevivalReport) -> None:
    assert options.manifest is not None and options.signature is not None
    anchor = trust_for(options.pubkey, options.target, options.snapshots)
    state.anchor = anchor
    report.trust = anchor.to_dict()
    ph.say(f"checking the signature with {len(anchor.keys)} pinned key(s), then every archive")
    verified = verify(options.snapshots, options.manifest, options.signature, anchor)
    report.trust["key_id"] = verified.key_id
    report.trust["public_key"] = anchor.key(verified.key_id).to_base64()
    report.station_id = verified.manifest.station_id
    report.stamp = verified.manifest.stamp
    report.source_generation = verified.manifest.generation
    ph.detail["checked"] = [{"file": c.name, "kind": c.kind, "size": c.size, "sha256": c.sha256}
                            for c in verified.checked]
    ph.detail["manifest_sha256"] = verified.manifest_sha256
    cross = minisign_cross_check(options.manifest, options.signature, anchor, verified.key_id)
    ph.detail["minisign_cross_check"] = cross
    if verified.manifest.dry_run:
        raise UsageError("this snapshot is a dry-run sample (ritual --dry-run); it cannot be "
                         "revived", path=options.manifest)
    newest = newest_generation(state.layout.history)
    warning = check_rollback(verified.generation, newest, allow=options.force_rollback)
    if warning:
        ph.warn("rollback", warning, recorded=newest, found=verified.generation, critical=True)
    ph.detail["generation"] = {"snapshot": verified.generation, "target_newest": newest}
    state.verified = verified


def _restore(options: RevivalOptions, state: _State, ph: PhaseContext,
             report: RevivalReport) -> None:
    verified = state.verified
    assert verified is not None
    state.staging = staging_root(options.target)
    parent = state.staging.parent
    while not parent.exists():  # removed again if the revival is refused
        state.created_parents.append(parent)
        parent = parent.parent
    last = [""]

    def progress(p: Any) -> None:
        if p.archive != last[0]:
            last[0] = p.archive
            ph.say(f"restoring {p.archive}")

    staged = restore_to_staging(options.snapshots, verified, state.staging, progress)
    ph.detail.update(archives=staged.archives, files=staged.files, bytes=staged.bytes)
    blocklist = load_blocklist([*options.blocklists,
                                state.layout.vault / "blocklist.json"])
    ph.detail["content_gate"] = content_gate(state.staging, verified, blocklist,
                                             options.snapshots)
    state.target_written = True
    moved = move_into_target(state.staging, options.target,
                             target_existed=state.target_existed, stamp=verified.manifest.stamp)
    state.staging = None
    ph.detail["placement"] = moved
    _finish_tree(options, state, ph)
    migrations = migrate_from_schema(state.layout.data)
    for m in migrations:
        ph.correct("schema", f"created {m['kind']} {m['name']} in {m['database']} from "
                   "schema.sql", recorded=None, found=m)
    ph.detail["migrations"] = migrations


def _finish_tree(options: RevivalOptions, state: _State, ph: PhaseContext) -> None:
    """The parts of the tree no archive carries: skeleton folders, the trust anchor the
    revival verified with, and the ancestor's manifest and final frame."""
    layout = state.layout
    verified = state.verified
    anchor = state.anchor
    assert verified is not None and anchor is not None and options.manifest and options.signature
    for folder in layout.skeleton():
        folder.mkdir(parents=True, exist_ok=True)
    installed = []
    if anchor.source == PUBKEY_SOURCE:
        # Pin the key that verified this snapshot on the new node, so later verifications
        # (a guardian, the next revival) have a trust anchor without the operator's flag.
        key = anchor.key(verified.key_id)
        dest = layout.trusted_keys / f"foundation-{key.id_hex}.pub"
        if not dest.exists():
            dest.write_text(key.file_text())
            installed.append(dest.name)
    ph.detail["trusted_keys_installed"] = installed
    ancestor = layout.manifests / f"ancestor-{verified.manifest.stamp}"
    ancestor.mkdir(parents=True, exist_ok=True)
    shutil.copy2(options.manifest, ancestor / MANIFEST)
    shutil.copy2(options.signature, ancestor / SIGNATURE)
    final = options.snapshots / FINAL_FRAME
    if final.is_file():
        shutil.copy2(final, layout.captures / FINAL_FRAME)


def _sanity(options: RevivalOptions, state: _State, ph: PhaseContext,
            report: RevivalReport) -> None:
    verified = state.verified
    assert verified is not None
    dbs = check_databases(state.layout, verified.manifest)
    ph.detail["databases"] = {name: check.to_dict() for name, check in dbs.items()}
    report.versions["manifest"] = verified.manifest.versions.model_dump()
    for what, message, recorded, found in compare_versions(report.versions["manifest"],
                                                          report.versions["node"]):
        ph.diverge(what, message, recorded=recorded, found=found)
    state.adaptation = adapt_encoder_preset(state.layout, verified.manifest.versions.ffmpeg)
    if state.adaptation.version_diverged or state.adaptation.changed:
        ph.detail["encoder"] = state.adaptation.to_dict()
    for change in state.adaptation.changes:
        ph.correct(f"encoder.{change.key}", change.reason, recorded=change.recorded,
                   found=change.adapted)
    ph.say("starting HTTP without ingest")
    serving = station_port.start_without_ingest(state.layout)
    state.station_started = True
    ph.detail["status"] = serving.to_dict()


def _continuity(options: RevivalOptions, state: _State, ph: PhaseContext,
                report: RevivalReport) -> None:
    from .proof import prove_continuity

    verified = state.verified
    assert verified is not None
    playout = verified.manifest.playout
    if playout is None or playout.item_id is None:
        raise CheckFailed("the manifest records no playout position to resume from",
                          path=options.manifest)
    ph.say(f"broadcaster starts at {playout.item_id} +{playout.offset_s:g} s")
    if not options.prove_continuity:
        ph.detail["broadcaster_start"] = station_port.start_broadcaster(
            state.layout, playout.item_id, playout.offset_s or 0.0, plan_id=playout.plan_id,
            slot_id=playout.slot_id, timeout_s=options.frame_timeout_s).to_dict()
        ph.skip("--prove-continuity not requested; broadcaster resumed at the recorded "
                "position without a frame comparison")
        return
    verdict, detail = prove_continuity(state.layout, options.snapshots, verified.manifest,
                                       options.thresholds, timeout_s=options.frame_timeout_s)
    state.verdict = verdict
    report.continuity = {**verdict.to_dict(), **detail}
    ph.detail.update(report.continuity)
    if not verdict.passed:
        raise CheckFailed("continuity proof failed: " + ", ".join(
            f"{c.name} {c.value} (needs {c.threshold})" for c in verdict.checks
            if not c.passed), failed=verdict.failed_checks())


def _reactivate(options: RevivalOptions, state: _State, ph: PhaseContext,
                report: RevivalReport) -> None:
    ph.detail.update(station_port.reactivate(state.layout, options.discovery_hold_h).to_dict())


# ---------------------------------------------------------------- publishing


def _publish(options: RevivalOptions, state: _State, report: RevivalReport, log: PhaseLog,
             revival_id: str) -> None:
    verified = state.verified
    assert verified is not None and report.new_generation is not None
    layout = state.layout
    report.artifacts = {"report": str(layout.vault / REPORT_NAME),
                        "log": str(layout.vault / JSONL_NAME),
                        "history": str(layout.history / f"generation-"
                                                        f"{report.new_generation:04d}.json")}
    path, sig = sign_report(layout, report, report.new_generation)
    record_lineage(layout, report=report, manifest_sha256=verified.manifest_sha256,
                   manifest_signature=verified.signature_line,
                   ancestor_of_snapshot=verified.manifest.ancestor_signature,
                   report_path=path, report_sig=sig)
    from .report import sha256_path

    log.final(path, sha256_path(path), report.status, revival_id)
    if options.report_path is not None and options.report_path != path:
        write_json(options.report_path, report.to_dict())


def _fail(options: RevivalOptions, state: _State, report: RevivalReport, exc: VVTVError,
          log: PhaseLog, revival_id: str, clock: Clock) -> None:
    _cleanup(state)
    failed = report.failed_step
    report.status = "failed"
    report.finished_utc = utc_iso(clock.now())
    report.failure = {"phase": failed.name if failed else None, **exc.to_dict(),
                      "target_untouched": not state.target_written}
    if options.report_path is not None:
        write_json(options.report_path, report.to_dict())
    if state.target_written and state.layout.vault.is_dir():
        log.open(state.layout)
        path = write_json(state.layout.vault / REPORT_NAME, report.to_dict())
        from .report import sha256_path

        log.final(path, sha256_path(path), "failed", revival_id)


def _cleanup(state: _State) -> None:
    if state.staging is not None:
        remove_tree(state.staging)
        state.staging = None
    if not state.target_written:
        for folder in state.created_parents:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
    if state.station_started:
        with contextlib.suppress(VVTVError):
            station_port.stop(state.layout)
        state.station_started = False
