"""The shutdown ritual (seed M1), step by step, reporting to a journal and an observer.

    prechecks -> freeze -> final_frame -> snapshots -> manifest -> verify
              -> stop -> last_transmission -> seal                  (the real ritual)
              ->          last_transmission -> seal -> thaw          (--dry-run rehearsal)

* A pre-check failure refuses the run before anything is changed; one pre-check is the
  evidence log itself, so a log that could not be extended never fails a run half-way.
* Everything is written into a partial folder that ``seal`` renames; a failure before the
  stop removes the partial folder and thaws the station, so it keeps broadcasting as before.
* The steps run on the core step runner (``core.steps``); each finished (or failed) step
  appends one hash-chained line to ``vault/m1_artifacts.jsonl`` (an evidence observer,
  ``Ritual._line``); a crash right after any line leaves no snapshot that looks valid.
* A run that stops raises the error that stopped it with the journal attached
  (``exc.journal``), its status ``refused`` (a pre-check) or ``failed``.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, stamp, utc_iso
from vvtvlib.core.errors import (
    CheckFailed,
    PrecheckFailed,
    StationNotRunning,
    VVTVError,
)
from vvtvlib.core.evidence import EvidenceLog, verify_chain
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.steps import (
    EvidenceObserver,
    Step,
    StepContext,
    StepObserver,
    StepRecord,
    StepStatus,
    as_error,
    run_steps,
)
from vvtvlib.vault.manifest import sha256_file
from vvtvlib.vault.schema import Manifest

from . import archives, finalframe, freeze, prechecks, probe, report, sealing, stop, telemetry
from .config import RitualConfig, load_ritual_config
from .finalframe import FinalFrameRecord
from .playbook import PLAYBOOK, write_playbook
from .prechecks import CheckResult, Verdict
from .report import RitualJournal, RunStatus
from .telemetry import ToolVersions
from .transaction import SnapshotFolder, ritual_lock

if TYPE_CHECKING:
    from vvtvlib.station.api import StationStatus

EVIDENCE_NAME = "m1_artifacts.jsonl"
LAST_TRANSMISSION = "last_transmission.md"
REHEARSALS = "rehearsals"

REAL_STEPS = ("prechecks", "freeze", "final_frame", "snapshots", "manifest", "verify", "stop",
              "last_transmission", "seal")
DRY_STEPS = ("prechecks", "freeze", "final_frame", "snapshots", "manifest", "verify",
             "last_transmission", "seal", "thaw")


class RitualObserver(StepObserver):
    """What a face (CLI, notebook, benchmark) hears while the ritual runs: the steps, and
    each pre-check's verdict. No-op hooks; override what you need."""

    def check(self, result: CheckResult) -> None:
        pass


@dataclass
class RitualOptions:
    dry_run: bool = False
    strict: bool = False
    overrides: list[str] = field(default_factory=list)  # ``--set section.key=value``
    closing_bell: bool | None = None  # None: ``[stop] closing_bell`` decides
    stamp: str | None = None  # default: now, ``YYYY-mm-dd_HHMMZ``
    clock: Clock = SYSTEM_CLOCK


def evidence_log(layout: StationLayout) -> EvidenceLog:
    return EvidenceLog(layout.vault / EVIDENCE_NAME)


def evidence_log_state(log: EvidenceLog) -> str:
    """"ok" when the ritual can extend its evidence log (new, or chain and head intact), else
    the one sentence saying why not. Read only: a pre-check."""
    if not log.path.exists() and not log.head_path.exists():
        return "ok"
    try:
        report = verify_chain(log.path)
    except OSError as exc:
        return f"{log.path} cannot be read: {exc.strerror or exc}"
    if report.ok:
        return "ok"
    where = f"line {report.first_bad_line}: " if report.first_bad_line else ""
    return f"{log.path.name}: {where}{report.reason}"


def snapshot_parent(layout: StationLayout, dry_run: bool) -> Path:
    """Rehearsals never land among real snapshots (nor count as a generation)."""
    return layout.vault / REHEARSALS if dry_run else layout.snapshots


def _sha256(path: Path) -> str:
    return sha256_file(path)[0]


def _station_identity(layout: StationLayout) -> tuple[str, str]:
    from vvtvlib.station.config import load_station_config

    cfg = load_station_config(layout)
    return cfg.station.id, cfg.station.profile


class Ritual:
    """One run. ``run()`` returns the journal or raises the step's error (the journal, with
    the error recorded in it, stays available as ``ritual.journal`` and ``exc.journal``)."""

    def __init__(self, layout: StationLayout, options: RitualOptions | None = None,
                 observer: RitualObserver | None = None) -> None:
        self.layout = layout
        self.options = options or RitualOptions()
        self.observer: RitualObserver = observer or RitualObserver()
        self.clock = self.options.clock
        self.steps = DRY_STEPS if self.options.dry_run else REAL_STEPS
        self.journal = RitualJournal(root=str(layout.root), stamp="", dry_run=self.options.dry_run,
                                     strict=self.options.strict, run_id=secrets.token_hex(8))
        self.profile = ""
        self.evidence = evidence_log(layout)
        self.config: RitualConfig | None = None
        self.folder: SnapshotFolder | None = None
        self.frozen = False
        self.stopped = False
        # what the steps hand on to each other
        self.final_frame: FinalFrameRecord | None = None
        self.snapshot: archives.SnapshotResult | None = None
        self.manifest: Manifest | None = None
        self.versions: ToolVersions | None = None

    # ------------------------------------------------------------------ driver
    def run(self) -> RitualJournal:
        j = self.journal
        j.started_utc = utc_iso(self.clock.now())
        try:
            self.config = load_ritual_config(self.layout, self.options.overrides)
            j.config = self.config.as_dict()
            with ritual_lock(self.layout.run / "ritual.lock"):
                self._run_steps()
            j.status = RunStatus.OK
            return j
        except (Exception, KeyboardInterrupt) as exc:
            error = as_error(exc)
            self._fail(error)
            error.attach(j)
            if error is exc:
                raise
            raise error from exc
        finally:
            j.finished_utc = utc_iso(self.clock.now())

    def _run_steps(self) -> None:
        from vvtvlib.station import api

        status = api.status(self.layout)
        if not status.up:
            raise StationNotRunning(f"the station at {self.layout.root} is not running "
                                    "(start it with `vvtvctl station up`)", path=self.layout.root)
        self.journal.station_id, self.profile = _station_identity(self.layout)

        def step(name: str, body: Callable[[StepRecord], None]) -> Step:
            return Step(name, lambda ctx: body(ctx.record))

        steps = [step("prechecks", lambda rec: self._prechecks(rec, status)),
                 step("freeze", self._freeze), step("final_frame", self._final_frame),
                 Step("snapshots", self._snapshots), step("manifest", self._manifest),
                 step("verify", self._verify)]
        if not self.options.dry_run:
            steps.append(step("stop", self._stop))
        steps += [step("last_transmission", self._last_transmission), step("seal", self._seal)]
        if self.options.dry_run:
            steps.append(step("thaw", self._thaw))
        assert tuple(s.name for s in steps) == self.steps
        run_steps(steps, self.journal, [EvidenceObserver(self.evidence, self._line),
                                        self.observer], self.clock)

    def _line(self, rec: StepRecord) -> dict[str, Any]:
        """The step's line in ``vault/m1_artifacts.jsonl``."""
        return {"event": "m1.step", "run_id": self.journal.run_id,
                "station_id": self.journal.station_id, "stamp": self.journal.stamp or None,
                "dry_run": self.options.dry_run, "step": rec.name, "status": rec.status.value,
                "duration_s": rec.duration_s, "artifacts": rec.artifacts,
                "error": rec.error_message, "detail": rec.detail}

    def _fail(self, exc: VVTVError) -> None:
        j = self.journal
        j.status = RunStatus.REFUSED if isinstance(exc, PrecheckFailed) else RunStatus.FAILED
        j.error = exc.to_dict()
        # Undo what can be undone: the station keeps broadcasting as before the ritual.
        if self.folder is not None and not self.folder.committed:
            self.folder.abort()
        if self.frozen and not self.stopped:
            try:
                freeze.thaw(self.layout)
                self.frozen = False
                j.warnings.append("the ritual failed after the freeze; the station was thawed")
            except (VVTVError, OSError) as thaw_exc:
                j.warnings.append(f"thaw after failure did not complete: {thaw_exc}")

    # ------------------------------------------------------------------ steps
    @property
    def cfg(self) -> RitualConfig:
        assert self.config is not None
        return self.config

    def _prechecks(self, rec: StepRecord, status: StationStatus) -> None:
        measured = dataclasses.replace(probe.measure(self.layout, status),
                                       evidence_log=evidence_log_state(self.evidence))
        results = prechecks.evaluate(measured, self.cfg.prechecks, strict=self.options.strict)
        self.journal.prechecks = results
        for r in results:
            self.observer.check(r)
            if r.verdict is Verdict.WARN:
                self.journal.warnings.append(r.sentence())
        rec.detail = {"checks": [r.to_dict() for r in results],
                      "thresholds": self.cfg.prechecks.model_dump()}
        failed = [r for r in results if r.failed]
        if failed:
            raise PrecheckFailed(prechecks.refusal_message(results),
                                 checks=[r.to_dict() for r in failed])

    def _freeze(self, rec: StepRecord) -> None:
        parent = snapshot_parent(self.layout, self.options.dry_run)
        self.folder = SnapshotFolder.begin(parent, self.options.stamp or stamp(self.clock.now()))
        self.journal.stamp = self.folder.stamp
        self.frozen = True  # set first: a failure half-way still thaws
        frozen = freeze.freeze(self.layout, self.cfg.freeze.wait_empty_timeout_s,
                               self.cfg.freeze.poll_interval_s)
        rec.wait_s = frozen.drain_wait_s or 0.0
        rec.detail = frozen.to_dict()

    def _final_frame(self, rec: StepRecord) -> None:
        from vvtvlib.station import api

        assert self.folder is not None
        status = api.status(self.layout)
        record = finalframe.capture(self.layout, status, self.folder.path, self.cfg.final_frame,
                                    clock=self.clock)
        self.final_frame = record
        if not record.reproducible:
            message = (f"final frame differs from the mezzanine frame at its (item, offset): "
                       f"phash distance {record.kpis.phash_distance} (tolerance "
                       f"{record.phash_max_distance}), PSNR {record.kpis.psnr_db} dB "
                       f"(needs >= {record.psnr_min_db:g})")
            if self.options.strict:
                raise CheckFailed(message, expected=f"<= {record.phash_max_distance}",
                                  actual=record.kpis.phash_distance)
            self.journal.warnings.append(message)
        rec.artifacts = {finalframe.FRAME_NAME: record.sha256,
                         finalframe.RECORD_NAME: _sha256(self.folder.path / finalframe.RECORD_NAME)}
        rec.detail = record.step_detail()

    def _snapshots(self, ctx: StepContext) -> None:
        assert self.folder is not None
        rec = ctx.record
        self.versions = telemetry.collect_versions()
        clip = self.final_frame.reference_clip if self.final_frame else None

        def progress(done: int, total: int, what: str) -> None:
            ctx.progress(what, done, total)

        self.snapshot = archives.write_snapshots(
            self.layout, self.folder.path, self.cfg.snapshot, self.versions,
            dry_run=self.options.dry_run, sample_clips=[clip] if clip else [], progress=progress)
        rec.detail = self.snapshot.summary()
        rec.artifacts = {n: r.sha256 for n, r in self.snapshot.archives.items()}

    def _manifest(self, rec: StepRecord) -> None:
        from vvtvlib.vault.folder import file_record
        from vvtvlib.vault.schema import build_manifest

        ff, versions = self.final_frame, self.versions
        assert self.folder is not None and self.snapshot is not None
        assert ff is not None and versions is not None
        line = sealing.lineage(self.layout)
        self.journal.generation = line.generation
        business = self.layout.configs / "business_logic.toml"
        playout = {"slot_id": ff.slot_id, "plan_id": ff.plan_id, "item_id": ff.item_id,
                   "offset_s": ff.offset_s, "segment": ff.segment,
                   "program_date_time": ff.program_date_time}
        archive_records = {n: r.to_manifest() for n, r in self.snapshot.archives.items()}
        # A witness of vault/m1_artifacts.jsonl kept under the signature: `vvtvctl evidence
        # verify vault/m1_artifacts.jsonl --since <ritual.evidence_head>` proves it a prefix.
        evidence_head = self.evidence.head()
        write_playbook(self.folder.path, station_id=self.journal.station_id,
                       stamp=self.folder.stamp, generation=line.generation,
                       key_id=sealing.foundation_key_id(self.layout), profile=self.profile,
                       playout=playout, archives=archive_records)
        self.manifest = build_manifest(
            station_id=self.journal.station_id, stamp=self.folder.stamp,
            generation=line.generation, ancestor_signature=line.ancestor_signature,
            profile=self.profile, dry_run=self.options.dry_run, versions=versions.to_dict(),
            selection_seeds=probe.selection_seeds(self.layout),
            business_logic_sha256=_sha256(business) if business.exists() else None,
            playout=playout,
            final_frame={"file": finalframe.FRAME_NAME, "sha256": ff.sha256, "phash": ff.phash},
            databases=self.snapshot.databases,
            archives=archive_records,
            artifacts={name: file_record(self.folder.path / name)
                       for name in (finalframe.FRAME_NAME, finalframe.RECORD_NAME, PLAYBOOK)},
            ritual={"run_id": self.journal.run_id, "strict": self.options.strict,
                    "evidence_head": evidence_head.token if evidence_head else None,
                    "thresholds": self.cfg.prechecks.model_dump(),
                    "prechecks": [{"name": c.name, "verdict": c.verdict.value,
                                   "measured": c.measured} for c in self.journal.prechecks]},
        )
        sealed = sealing.seal(self.layout, self.folder.path, self.manifest)
        self.journal.manifest_sha256 = sealed.manifest_sha256
        rec.detail = {"generation": line.generation, "ancestor": line.ancestor,
                      **sealed.to_dict()}
        rec.artifacts = {sealing.MANIFEST: sealed.manifest_sha256,
                         sealing.SIGNATURE: _sha256(self.folder.path / sealing.SIGNATURE)}

    def _verify(self, rec: StepRecord) -> None:
        assert self.folder is not None
        if not (self.cfg.snapshot.verify or self.options.dry_run or self.options.strict):
            rec.status = StepStatus.SKIPPED
            rec.detail = {"reason": "[snapshot] verify = false"}
            return
        rec.detail = sealing.verify(self.layout, self.folder.path).to_dict()

    def _stop(self, rec: StepRecord) -> None:
        assert self.folder is not None
        self.stopped = True  # from here on the station is going down: no thaw on failure
        stopped = stop.clean_stop(self.layout, self.cfg.stop.timeout_s)
        rec.wait_s = stopped.wait_s
        bell = self.options.closing_bell
        if bell if bell is not None else self.cfg.stop.closing_bell:
            out = stop.closing_bell(self.folder.path / finalframe.FRAME_NAME,
                                    self.folder.path / stop.CLOSING_BELL,
                                    self.cfg.stop.closing_bell_s)
            rec.artifacts[stop.CLOSING_BELL] = _sha256(out)
        rec.detail = stopped.to_dict()

    def _last_transmission(self, rec: StepRecord) -> None:
        assert self.folder is not None and self.snapshot is not None
        assert self.final_frame is not None
        text = report.render_last_transmission(self.journal, self.final_frame,
                                               self.snapshot.archives)
        path = self.folder.path / LAST_TRANSMISSION
        path.write_text(text, encoding="utf-8")
        rec.artifacts = {LAST_TRANSMISSION: _sha256(path)}

    def _seal(self, rec: StepRecord) -> None:
        assert self.folder is not None
        final = self.folder.commit()
        self.journal.snapshot_dir = str(final)
        rec.detail = {"snapshot": str(final), "cleaned_partials": list(self.folder.cleaned)}
        if not self.options.dry_run:
            assert self.manifest is not None
            rec.detail.update(sealing.publish(self.layout, final, self.manifest).to_dict())
        rec.artifacts = {sealing.MANIFEST: self.journal.manifest_sha256 or ""}

    def _thaw(self, rec: StepRecord) -> None:
        rec.detail = freeze.thaw(self.layout).to_dict()
        self.frozen = False


def run_ritual(layout: StationLayout, options: RitualOptions | None = None,
               observer: RitualObserver | None = None) -> RitualJournal:
    """Run the shutdown ritual (or its ``dry_run`` rehearsal) on a live station."""
    return Ritual(layout, options, observer).run()


__all__ = ["DRY_STEPS", "REAL_STEPS", "Ritual", "RitualObserver", "RitualOptions", "evidence_log",
           "evidence_log_state", "run_ritual", "snapshot_parent"]
