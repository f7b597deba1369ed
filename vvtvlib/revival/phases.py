"""The revival's phases, findings and the report they add up to.

A revival is a fixed sequence of phases run by the core step runner; each leaves a
``core.steps.StepRecord`` (status, timings, details, warnings) in the report. Findings
(divergences between the recorded and the new node, corrections the revival applied,
warnings) are kept apart so the report can list them. The sum of the phase durations is the
measured RTO.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from vvtvlib.core.steps import Journal, StepRecord, StepStatus

REPORT_SCHEMA = "vvtv.resurrection/1"


class Phase(StrEnum):
    PROVISION = "provision"
    VERIFY = "verify"
    RESTORE = "restore"
    SANITY = "sanity"
    CONTINUITY = "continuity"
    REACTIVATION = "reactivation"
    REPORT = "report"


PHASES: tuple[Phase, ...] = tuple(Phase)


def phase_dict(record: StepRecord) -> dict[str, Any]:
    """A phase as ``resurrection_report.json`` holds it."""
    return {"name": record.name, "status": record.status.value,
            "started_utc": record.started_utc, "duration_s": record.duration_s,
            "detail": record.detail, "warnings": list(record.warnings), "error": record.error}


def phase_from_dict(data: dict[str, Any]) -> StepRecord:
    return StepRecord(name=str(Phase(data["name"])), status=StepStatus(data["status"]),
                      started_utc=data.get("started_utc", ""),
                      duration_s=data.get("duration_s", 0.0), detail=data.get("detail", {}),
                      warnings=list(data.get("warnings", [])), error=data.get("error"))


@dataclass
class Finding:
    """A divergence (recorded != found), a correction (what the revival changed) or a warning."""

    phase: Phase
    what: str
    message: str
    recorded: Any = None
    found: Any = None
    severity: str = "warning"  # warning | critical

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["phase"] = str(self.phase)
        return out


@dataclass(kw_only=True)
class RevivalReport(Journal):
    """What ``revive`` returns (or attaches to the error that stopped it) and what
    ``resurrection_report.json`` holds; ``steps`` are the phases."""

    snapshots: str
    target: str
    schema: str = REPORT_SCHEMA
    status: str = "running"  # running | succeeded | failed
    started_utc: str = ""
    finished_utc: str = ""
    station_id: str | None = None
    stamp: str | None = None
    source_generation: int | None = None
    new_generation: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    divergences: list[Finding] = field(default_factory=list)
    corrections: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    versions: dict[str, Any] = field(default_factory=dict)
    continuity: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    trust: dict[str, Any] = field(default_factory=dict)
    node_key: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def rto_s(self) -> float:
        return self.duration_s

    def phase(self, name: Phase | str) -> StepRecord | None:
        return self.step(str(name))

    def phase_timings(self) -> dict[str, float]:
        return {p.name: p.duration_s for p in self.steps}

    def critical_warnings(self) -> list[Finding]:
        return [f for f in self.warnings + self.divergences if f.severity == "critical"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema, "status": self.status, "snapshots": self.snapshots,
            "target": self.target, "started_utc": self.started_utc,
            "finished_utc": self.finished_utc, "station_id": self.station_id,
            "stamp": self.stamp, "source_generation": self.source_generation,
            "new_generation": self.new_generation, "options": self.options,
            "rto_s": self.rto_s, "phase_timings": self.phase_timings(),
            "phases": [phase_dict(p) for p in self.steps],
            "divergences": [f.to_dict() for f in self.divergences],
            "corrections": [f.to_dict() for f in self.corrections],
            "warnings": [f.to_dict() for f in self.warnings],
            "versions": self.versions, "continuity": self.continuity,
            "failure": self.failure, "trust": self.trust, "node_key": self.node_key,
            "artifacts": self.artifacts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RevivalReport:
        def findings(key: str) -> list[Finding]:
            return [Finding(**{**f, "phase": Phase(f["phase"])}) for f in data.get(key, [])]

        phases = [phase_from_dict(p) for p in data.get("phases", [])]
        simple = {k: data[k] for k in (
            "snapshots", "target", "schema", "status", "started_utc", "finished_utc",
            "station_id", "stamp", "source_generation", "new_generation", "options",
            "versions", "continuity", "failure", "trust", "node_key", "artifacts") if k in data}
        return cls(**simple, steps=phases, divergences=findings("divergences"),
                   corrections=findings("corrections"), warnings=findings("warnings"))
