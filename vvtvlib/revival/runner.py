"""Runs the revival's phases in order, timing each and telling an observer.

The CLI renders the observer's events as rich progress; the notebook ignores them and reads
the journal afterwards. An exception inside a phase is recorded in that phase (with the
error's path, expected and actual values) and re-raised for the flow to turn into a report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.errors import VVTVError

from .journal import Finding, Phase, PhaseRecord, PhaseStatus, RevivalReport


class RevivalObserver:
    """No-op hooks; subclass what you need (the CLI draws progress from these)."""

    def phase_started(self, phase: Phase) -> None:
        pass

    def phase_progress(self, phase: Phase, message: str) -> None:
        pass

    def phase_finished(self, record: PhaseRecord) -> None:
        pass


class PhaseContext:
    """Handed to the body of a phase: add details, warnings and findings."""

    def __init__(self, runner: PhaseRunner, record: PhaseRecord) -> None:
        self._runner = runner
        self.record = record

    @property
    def detail(self) -> dict[str, Any]:
        return self.record.detail

    def say(self, message: str) -> None:
        self._runner.observer.phase_progress(self.record.name, message)

    def warn(self, what: str, message: str, *, recorded: Any = None, found: Any = None,
             critical: bool = False) -> Finding:
        finding = Finding(self.record.name, what, message, recorded, found,
                          "critical" if critical else "warning")
        self._runner.report.warnings.append(finding)
        self.record.warnings.append(message)
        return finding

    def diverge(self, what: str, message: str, *, recorded: Any, found: Any,
                critical: bool = False) -> Finding:
        finding = Finding(self.record.name, what, message, recorded, found,
                          "critical" if critical else "warning")
        self._runner.report.divergences.append(finding)
        self.record.warnings.append(message)
        return finding

    def correct(self, what: str, message: str, *, recorded: Any, found: Any) -> Finding:
        finding = Finding(self.record.name, what, message, recorded, found, "info")
        self._runner.report.corrections.append(finding)
        return finding

    def skip(self, reason: str) -> None:
        self.record.status = PhaseStatus.SKIPPED
        self.record.detail["skipped"] = reason


def error_dict(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, VVTVError):
        return exc.to_dict()
    return {"error": type(exc).__name__, "message": str(exc) or type(exc).__name__}


class PhaseRunner:
    def __init__(self, report: RevivalReport, observer: RevivalObserver | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.report = report
        self.observer = observer or RevivalObserver()
        self.clock = clock

    @contextmanager
    def phase(self, name: Phase) -> Iterator[PhaseContext]:
        record = PhaseRecord(name=name, started_utc=utc_iso(self.clock.now()))
        self.report.phases.append(record)
        self.observer.phase_started(name)
        t0 = self.clock.monotonic()
        try:
            yield PhaseContext(self, record)
        except BaseException as exc:
            record.status = PhaseStatus.FAILED
            record.error = error_dict(exc)
            raise
        else:
            if record.status == PhaseStatus.OK and record.warnings:
                record.status = PhaseStatus.WARN
        finally:
            record.duration_s = round(self.clock.monotonic() - t0, 3)
            self.observer.phase_finished(record)
