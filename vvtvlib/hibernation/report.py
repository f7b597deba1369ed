"""The lockdown and resume report, and how a checklist runs on the core step runner.

Every step is listed up front (``not run`` until it runs), timed, appended to the
hash-chained ``vault/hibernation_journal.jsonl`` as it finishes and announced to the
observers, so an operator (and an auditor) sees lockdown and resume step by step. The first
failing step stops the checklist and its error is raised with this report attached
(``exc.journal``).

Journal line and ``--json`` step: ``{"step", "title", "status", "detail" (one line),
"duration_s", "data"}``; a failed step's ``data`` is its error without the message.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import Clock
from vvtvlib.core.errors import VVTVError
from vvtvlib.core.evidence import EvidenceLog
from vvtvlib.core.steps import (
    EvidenceObserver,
    Journal,
    Outcome,
    Step,
    StepObserver,
    StepRecord,
    run_steps,
)


@dataclass(kw_only=True)
class ChecklistReport(Journal):
    kind: str  # "lockdown" | "resume"
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))
    error: VVTVError | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.status.passed for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "ok": self.ok,
                "steps": [step_dict(s) for s in self.steps],
                "error": self.error.to_dict() if self.error else None, **self.data}


def step_dict(record: StepRecord) -> dict[str, Any]:
    summary, data = record.summary, record.detail
    if record.error is not None:
        data = {k: v for k, v in record.error.items() if k != "message"}
    return {"step": record.name, "title": record.title, "status": record.status.value,
            "detail": summary, "duration_s": round(record.duration_s, 3), "data": data}


def run_checklist(report: ChecklistReport, steps: Sequence[tuple[str, str]],
                  bodies: dict[str, Callable[[], Outcome]], journal: Path, clock: Clock,
                  observer: StepObserver | None) -> ChecklistReport:
    """Run ``steps`` (name, title) with ``bodies[name]``; raise the first failure's error
    with ``report`` attached."""
    plan = [Step(name, _body(bodies[name]), title) for name, title in steps]
    report.plan(plan)
    log = EvidenceLog(journal, clock=clock)
    evidence = EvidenceObserver(log, lambda r: {"checklist": report.kind,
                                                "run_id": report.run_id, **step_dict(r)})
    try:
        run_steps(plan, report, [evidence, *([observer] if observer else [])], clock)
    except VVTVError as exc:  # raised by the runner with this report attached
        report.error = exc
        raise
    return report


def _body(fn: Callable[[], Outcome]) -> Callable[[Any], Outcome]:
    return lambda _ctx: fn()


__all__ = ["ChecklistReport", "run_checklist", "step_dict"]
