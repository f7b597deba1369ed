"""A checklist that journals itself: each step is timed, appended to the hash-chained
``vault/hibernation_journal.jsonl`` as it finishes, and announced to an observer, so an
operator (and an auditor) sees lockdown and resume step by step. The first failing step
stops the checklist; the steps after it are recorded as not run."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import VVTVError
from vvtvlib.core.evidence import EvidenceLog

OK, WARN, FAILED, SKIPPED, NOT_RUN = "ok", "warn", "failed", "skipped", "not run"


@dataclass
class StepResult:
    name: str
    title: str
    status: str = NOT_RUN
    detail: str = ""
    duration_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "title": self.title, "status": self.status,
                "detail": self.detail, "duration_s": round(self.duration_s, 3),
                "data": self.data}


@dataclass
class Outcome:
    """What a step function returns: a one-line detail, data for the report, and a warning
    flag (the step succeeded but the operator should look)."""

    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    warn: bool = False
    skipped: bool = False


class ChecklistObserver:
    """No-op hooks; the CLI prints, the notebook collects."""

    def step_started(self, step: StepResult) -> None: ...

    def step_finished(self, step: StepResult) -> None: ...


@dataclass
class ChecklistReport:
    kind: str  # "lockdown" | "resume"
    run_id: str
    steps: list[StepResult]
    error: VVTVError | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.status in (OK, WARN, SKIPPED) for s in self.steps)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "ok": self.ok,
                "steps": [s.to_dict() for s in self.steps],
                "error": self.error.to_dict() if self.error else None, **self.data}


class Checklist:
    def __init__(self, kind: str, steps: list[tuple[str, str]], journal: Path, *,
                 clock: Clock = SYSTEM_CLOCK, observer: ChecklistObserver | None = None) -> None:
        self.report = ChecklistReport(kind, secrets.token_hex(6),
                                      [StepResult(n, t) for n, t in steps])
        self.journal = EvidenceLog(journal, clock=clock)
        self.observer = observer or ChecklistObserver()

    def run(self, name: str, fn: Callable[[], Outcome]) -> Outcome:
        """Run one step; a VVTVError marks it failed, is journaled and propagates."""
        step = self.report.step(name)
        self.observer.step_started(step)
        started = time.perf_counter()
        try:
            outcome = fn()
        except VVTVError as exc:
            step.status, step.detail = FAILED, exc.message
            step.data = {k: v for k, v in exc.to_dict().items() if k != "message"}
            self.report.error = exc
            self._finish(step, started)
            raise
        step.status = SKIPPED if outcome.skipped else (WARN if outcome.warn else OK)
        step.detail, step.data = outcome.detail, outcome.data
        self._finish(step, started)
        return outcome

    def _finish(self, step: StepResult, started: float) -> None:
        step.duration_s = time.perf_counter() - started
        try:
            self.journal.append({"checklist": self.report.kind, "run_id": self.report.run_id,
                                 **step.to_dict()})
        except VVTVError as exc:
            # A journal that refuses the line (tampered, unreadable) stops the checklist with
            # that error; a step that already failed keeps its own error.
            if self.report.error is None:
                step.status, step.detail = FAILED, f"{step.detail}; not journaled: {exc.message}"
                self.report.error = exc
                self.observer.step_finished(step)
                raise
        self.observer.step_finished(step)
