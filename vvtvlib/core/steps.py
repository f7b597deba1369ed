"""One step runner for every long run: the ritual, revival, lockdown and resume (and the
runbooks, change preflights and game days built on them).

    run_steps(steps, journal, observers, clock)
        for each Step:  observers.step_started -> step.run(ctx) -> observers.step_finished
                        └── ctx.progress(...)  -> observers.step_progress

* A :class:`Step` is a name, a title and a callable taking a :class:`StepContext`; it fills
  ``ctx.record`` (detail, artifacts, summary) or returns an :class:`Outcome`.
* Each step leaves one :class:`StepRecord` in the :class:`Journal`: one :class:`StepStatus`,
  ``started_utc`` and ``duration_s`` from the injected clock, and the error it stopped with.
* The first failing step stops the run. Whatever it raised is recorded in its record and
  re-raised as an error of the one tree (:func:`as_error`), with the journal attached
  (``exc.journal``): a ``VVTVError`` as itself, an ``OSError`` as one sentence,
  ``KeyboardInterrupt`` as :class:`Interrupted`, anything else as an "unexpected"
  ``VVTVError`` chained to the original.
* Observers (:class:`StepObserver`, no-op hooks) are told in the order given. The
  :class:`EvidenceObserver` appends one hash-chained line per finished step; an observer that
  raises after a step succeeded fails that step (its line is the proof the step happened),
  and the observers after it still hear about the step.

Domain journals (``RitualJournal``, ``RevivalReport``, ``ChecklistReport``) subclass
:class:`Journal` and keep their own file formats; the failure convention is in
``docs/ARCHITECTURE.md`` ("Runs and failures").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from .clock import SYSTEM_CLOCK, Clock, utc_iso
from .errors import Interrupted, VVTVError


class StepStatus(StrEnum):
    NOT_RUN = "not run"  # planned, and the run stopped before it (or it is yet to come)
    RUNNING = "running"
    OK = "ok"
    WARN = "warn"  # done, but the operator should look
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def passed(self) -> bool:
        return self in (StepStatus.OK, StepStatus.WARN, StepStatus.SKIPPED)


@dataclass
class StepRecord:
    """What one step did: status, timings from the run's clock, what it found, its error."""

    name: str
    title: str = ""
    status: StepStatus = StepStatus.NOT_RUN
    started_utc: str = ""
    duration_s: float = 0.0
    # Time spent waiting on something else (workers draining, a service stopping), as
    # opposed to working: benchmarks report the split.
    wait_s: float = 0.0
    summary: str = ""  # one line for an operator (a failed step: its error's message)
    detail: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None  # ``VVTVError.to_dict()`` of the error it stopped with

    @property
    def failed(self) -> bool:
        return self.status is StepStatus.FAILED

    @property
    def error_message(self) -> str | None:
        return None if self.error is None else str(self.error.get("message", ""))


@dataclass(frozen=True)
class Outcome:
    """What a step may return instead of filling its record: a one-line summary, details,
    and whether it only warned or was skipped."""

    summary: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    warn: bool = False
    skipped: bool = False


class StepObserver:
    """No-op hooks; subclass what you need (the CLI draws rich progress, the evidence
    observer appends lines, the notebook collects)."""

    def step_started(self, record: StepRecord, index: int, total: int) -> None:
        pass

    def step_progress(self, record: StepRecord, message: str, done: int | None = None,
                      total: int | None = None) -> None:
        pass

    def step_finished(self, record: StepRecord) -> None:
        pass


class EvidenceSink(Protocol):
    def append(self, record: dict[str, Any]) -> Any: ...


class EvidenceObserver(StepObserver):
    """Appends ``line(record)`` to an evidence log (``core.evidence.EvidenceLog`` or anything
    with ``append``) when a step finishes. A log that refuses the line fails a step that had
    succeeded; a step that already failed keeps its own error (its line is lost with the
    broken log, and the error is in the journal)."""

    def __init__(self, sink: EvidenceSink, line: Callable[[StepRecord], dict[str, Any]]) -> None:
        self.sink = sink
        self.line = line

    def step_finished(self, record: StepRecord) -> None:
        try:
            self.sink.append(self.line(record))
        except (VVTVError, OSError) as exc:
            if record.failed:
                return
            error = as_error(exc)
            record.status = StepStatus.FAILED
            record.error = error.to_dict()
            record.summary = (f"{record.summary}; not journaled: {error.message}"
                              if record.summary else f"not journaled: {error.message}")
            raise error from (None if error is exc else exc)


class StepContext:
    """Handed to a step: its record, and a way to report progress to the observers."""

    def __init__(self, record: StepRecord, observers: Sequence[StepObserver]) -> None:
        self.record = record
        self._observers = observers

    @property
    def detail(self) -> dict[str, Any]:
        return self.record.detail

    def progress(self, message: str, done: int | None = None, total: int | None = None) -> None:
        for observer in self._observers:
            observer.step_progress(self.record, message, done, total)

    def warn(self, message: str) -> None:
        """The step goes on but ends as WARN, with the message in its record."""
        self.record.warnings.append(message)

    def skip(self, reason: str) -> None:
        """The step had nothing to do: it ends as SKIPPED (unless it then raises)."""
        self.record.status = StepStatus.SKIPPED
        self.record.summary = reason


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[StepContext], Outcome | None]
    title: str = ""


@dataclass(kw_only=True)
class Journal:
    """The records of a run, in order. Domain journals subclass it and add their fields."""

    steps: list[StepRecord] = field(default_factory=list)

    def step(self, name: str) -> StepRecord | None:
        return next((s for s in self.steps if s.name == name), None)

    def plan(self, steps: Iterable[Step]) -> None:
        """List every step up front as NOT_RUN, so a stopped run shows what it did not do."""
        for s in steps:
            if self.step(s.name) is None:
                self.steps.append(StepRecord(s.name, s.title))

    @property
    def failed_step(self) -> StepRecord | None:
        return next((s for s in reversed(self.steps) if s.failed), None)

    @property
    def duration_s(self) -> float:
        return round(sum(s.duration_s for s in self.steps), 3)

    def to_dict(self) -> dict[str, Any]:
        """The report (``--json``); domain journals keep their own documented format."""
        return {"steps": [asdict(s) for s in self.steps], "duration_s": self.duration_s}


def as_error(exc: BaseException) -> VVTVError:
    """The error of the one tree that stands for ``exc`` (``exc`` itself if it is one)."""
    if isinstance(exc, VVTVError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted("interrupted")
    if isinstance(exc, OSError):
        # A full disk or a permission problem: one sentence, not a traceback.
        name = exc.filename
        return VVTVError(f"{exc.strerror or exc}" + (f": {name}" if name else ""), path=name)
    return VVTVError(f"unexpected {type(exc).__name__}: {exc}")


def run_steps(steps: Sequence[Step], journal: Journal,
              observers: Sequence[StepObserver] = (), clock: Clock = SYSTEM_CLOCK) -> Journal:
    """Run ``steps`` in order, recording each in ``journal``; the first failure stops the
    run and is raised as an error of the one tree (see the module docstring)."""
    for index, step in enumerate(steps, start=1):
        _run_one(step, index, len(steps), journal, observers, clock)
    return journal


def _run_one(step: Step, index: int, total: int, journal: Journal,
             observers: Sequence[StepObserver], clock: Clock) -> None:
    record = journal.step(step.name)
    if record is None or record.status is not StepStatus.NOT_RUN:
        record = StepRecord(step.name, step.title)
        journal.steps.append(record)
    record.status = StepStatus.RUNNING
    record.started_utc = utc_iso(clock.now())
    for observer in observers:
        observer.step_started(record, index, total)
    t0 = clock.monotonic()
    failure: VVTVError | None = None
    cause: BaseException | None = None
    try:
        outcome = step.run(StepContext(record, observers))
    except (Exception, KeyboardInterrupt) as exc:
        failure, cause = as_error(exc), exc
        record.status = StepStatus.FAILED
        record.error = failure.to_dict()
        record.summary = record.summary or failure.message
    else:
        _settle(record, outcome)
    record.duration_s = round(clock.monotonic() - t0, 3)
    for observer in observers:
        try:
            observer.step_finished(record)
        except (Exception, KeyboardInterrupt) as exc:
            if failure is None:  # the step's own error wins; the others still hear of it
                failure, cause = as_error(exc), exc
    if failure is not None:
        failure.attach(journal)
        if failure is cause:
            raise failure
        raise failure from cause


def _settle(record: StepRecord, outcome: Outcome | None) -> None:
    if outcome is not None:
        record.summary = outcome.summary or record.summary
        record.detail.update(outcome.detail)
        if outcome.skipped:
            record.status = StepStatus.SKIPPED
        elif outcome.warn:
            record.status = StepStatus.WARN
    if record.status is StepStatus.RUNNING:
        record.status = StepStatus.WARN if record.warnings else StepStatus.OK


__all__ = ["EvidenceObserver", "EvidenceSink", "Journal", "Outcome", "Step", "StepContext",
           "StepObserver", "StepRecord", "StepStatus", "as_error", "run_steps"]
