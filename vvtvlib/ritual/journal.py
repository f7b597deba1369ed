"""The ritual's typed journal (the report) and the observer it reports through.

    RitualJournal
    ├── prechecks: [CheckResult]   measured value, threshold, pass / warn / fail
    └── steps:     [StepRecord]    name, status, timings (work vs waiting), details, artifacts

The CLI renders the journal with rich, the notebook as tables and plots, ``--json`` prints
``to_dict()``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # a pre-check hard-stopped; nothing was changed
    FAILED = "failed"
    RUNNING = "running"


@dataclass
class CheckResult:
    """One pre-check: what was measured against which threshold, and the verdict."""

    name: str
    verdict: Verdict
    measured: Any
    threshold: str  # with its unit: "> 15 %"
    unit: str = ""  # of ``measured``
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAIL

    def sentence(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        got = f"{self.measured}{unit}" if isinstance(self.measured, (int, float)) \
            else str(self.measured)
        text = f"{self.name}: measured {got}, threshold {self.threshold}"
        return f"{text} ({self.detail})" if self.detail else text

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict.value
        return out


@dataclass
class StepRecord:
    name: str
    status: StepStatus = StepStatus.OK
    started_utc: str = ""
    duration_s: float = 0.0
    # Time spent waiting on the station (workers draining, segments flushing), as opposed
    # to hashing/compressing: the benchmark reports the split.
    wait_s: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> sha256
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        return out


@dataclass
class RitualJournal:
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
    steps: list[StepRecord] = field(default_factory=list)
    snapshot_dir: str | None = None
    manifest_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.OK

    def step(self, name: str) -> StepRecord | None:
        return next((s for s in self.steps if s.name == name), None)

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.prechecks if c.failed]

    @property
    def duration_s(self) -> float:
        return round(sum(s.duration_s for s in self.steps), 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root, "stamp": self.stamp, "dry_run": self.dry_run,
            "strict": self.strict, "run_id": self.run_id, "started_utc": self.started_utc,
            "finished_utc": self.finished_utc, "status": self.status.value,
            "station_id": self.station_id, "generation": self.generation,
            "config": self.config, "prechecks": [c.to_dict() for c in self.prechecks],
            "steps": [s.to_dict() for s in self.steps], "snapshot_dir": self.snapshot_dir,
            "manifest_sha256": self.manifest_sha256, "duration_s": self.duration_s,
            "warnings": list(self.warnings), "error": self.error,
        }


class RitualObserver(Protocol):
    """What a face (CLI, notebook, benchmark) hears while the ritual runs."""

    def step_started(self, name: str, index: int, total: int) -> None: ...
    def step_progress(self, name: str, done: int, total: int | None, what: str = "") -> None: ...
    def step_finished(self, record: StepRecord) -> None: ...
    def check(self, result: CheckResult) -> None: ...


class NullObserver:
    """Hears nothing; subclass and override what you need."""

    def step_started(self, name: str, index: int, total: int) -> None:
        pass

    def step_progress(self, name: str, done: int, total: int | None, what: str = "") -> None:
        pass

    def step_finished(self, record: StepRecord) -> None:
        pass

    def check(self, result: CheckResult) -> None:
        pass
