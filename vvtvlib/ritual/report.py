"""The ritual's journal (its report), and ``last_transmission.md`` rendered from it (pure).

    RitualJournal (a core.steps.Journal)
    ├── prechecks: [CheckResult]   measured value, threshold, pass / warn / fail
    └── steps:     [StepRecord]    name, status, timings (work vs waiting), details, artifacts

The CLI renders the journal with rich, the notebook as tables and plots, ``--json`` prints
``to_dict()``. ``last_transmission.md`` is the seed's "Last Transmission Manifest" for
humans: "Último slot, plano, duração executada, métricas finais…" — rendered from the
journal and the final-frame record, so the text never disagrees with what was signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from vvtvlib.core.steps import Journal, StepRecord

from .prechecks import CheckResult

if TYPE_CHECKING:
    from vvtvlib.vault.snapshot import ArchiveRecord

    from .finalframe import FinalFrameRecord


class RunStatus(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # a pre-check hard-stopped; nothing was changed
    FAILED = "failed"
    RUNNING = "running"


def step_dict(record: StepRecord) -> dict[str, Any]:
    """A step as the journal (``--json``) shows it; ``error`` is the error's sentence."""
    return {"name": record.name, "status": record.status.value,
            "started_utc": record.started_utc, "duration_s": record.duration_s,
            "wait_s": record.wait_s, "detail": record.detail, "artifacts": record.artifacts,
            "error": record.error_message}


@dataclass(kw_only=True)
class RitualJournal(Journal):
    """The ritual's journal: what ``run_ritual`` returns (or attaches to the error that
    stopped it) and what ``--json`` prints."""

    root: str
    stamp: str
    dry_run: bool
    strict: bool
    run_id: str
    started_utc: str = ""
    finished_utc: str = ""
    status: RunStatus = RunStatus.RUNNING
    station_id: str | None = None
    generation: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    prechecks: list[CheckResult] = field(default_factory=list)
    snapshot_dir: str | None = None
    manifest_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.OK

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.prechecks if c.failed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root, "stamp": self.stamp, "dry_run": self.dry_run,
            "strict": self.strict, "run_id": self.run_id, "started_utc": self.started_utc,
            "finished_utc": self.finished_utc, "status": self.status.value,
            "station_id": self.station_id, "generation": self.generation,
            "config": self.config, "prechecks": [c.to_dict() for c in self.prechecks],
            "steps": [step_dict(s) for s in self.steps], "snapshot_dir": self.snapshot_dir,
            "manifest_sha256": self.manifest_sha256, "duration_s": self.duration_s,
            "warnings": list(self.warnings), "error": self.error,
        }


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        value = f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value}{(' ' + unit) if unit else ''}"


def render_last_transmission(journal: RitualJournal, final_frame: FinalFrameRecord,
                             archives: Mapping[str, ArchiveRecord]) -> str:
    ff, kpis = final_frame, final_frame.kpis
    lines = [
        "# Last Transmission" + (" (rehearsal)" if journal.dry_run else ""),
        "",
        f"Station `{journal.station_id}`, snapshot `{journal.stamp}`, "
        f"generation {journal.generation}.",
        "",
        "## On air at the end",
        "",
        "| field | value |",
        "|---|---|",
        f"| last slot | {_fmt(ff.slot_id)} |",
        f"| plan executed | {_fmt(ff.plan_id)} |",
        f"| item | {_fmt(ff.item_id)} |",
        f"| offset in item | {_fmt(ff.offset_s, 's')} |",
        f"| executed in the last slot | {_fmt(ff.executed_in_slot_s, 's')} |",
        f"| encoder on air | {_fmt(ff.encoder_uptime_s, 's')} |",
        f"| final frame captured | {_fmt(ff.ts_utc)} |",
        "",
        "## Final metrics",
        "",
        "| metric | value |",
        "|---|---|",
        f"| stream bitrate | {_fmt(kpis.stream_bitrate, 'bit/s')} |",
        f"| segment age | {_fmt(kpis.segment_age, 's')} |",
        f"| SSIM vs mezzanine | {_fmt(kpis.ssim)} |",
        f"| PSNR vs mezzanine | {_fmt(kpis.psnr_db, 'dB')} |",
        f"| VMAF vs mezzanine | {_fmt(kpis.vmaf)} |",
        f"| perceptual-hash distance | {_fmt(kpis.phash_distance)} |",
        f"| viewers | {_fmt(kpis.viewer_count)} |",
        "",
        "## Snapshot",
        "",
        "| archive | size | files | sha256 |",
        "|---|---|---|---|",
    ]
    for name, rec in sorted(archives.items()):
        files = sum(1 for f in rec.files if f.type == "file")
        lines.append(f"| {name} | {rec.size:,} B | {files} | `{rec.sha256[:16]}…` |")
    lines += [
        "",
        f"Manifest sha256 `{journal.manifest_sha256}`, signed with the foundation key "
        "(`signature.sig`, minisign format).",
        "",
        "## Steps",
        "",
        "| step | status | seconds |",
        "|---|---|---|",
    ]
    lines += [f"| {s.name} | {s.status.value} | {s.duration_s:.2f} |" for s in journal.steps]
    warnings = list(journal.warnings)
    if warnings:
        lines += ["", "## Warnings", ""] + [f"* {w}" for w in warnings]
    return "\n".join(lines) + "\n"
