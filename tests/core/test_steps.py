"""The one step runner: statuses, failures raised as the one error, observers, timings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import IntegrityError, Interrupted, VVTVError
from vvtvlib.core.evidence import EvidenceLog, verify_chain
from vvtvlib.core.steps import (
    EvidenceObserver,
    Journal,
    Outcome,
    Step,
    StepContext,
    StepObserver,
    StepRecord,
    StepStatus,
    as_error,
    run_steps,
)


class Recorder(StepObserver):
    def __init__(self, name: str, heard: list[tuple[str, ...]]) -> None:
        self.name, self.heard = name, heard

    def step_started(self, record: StepRecord, index: int, total: int) -> None:
        self.heard.append((self.name, "started", record.name, f"{index}/{total}",
                           record.status.value))

    def step_progress(self, record: StepRecord, message: str, done: int | None = None,
                      total: int | None = None) -> None:
        self.heard.append((self.name, "progress", record.name, message, f"{done}/{total}"))

    def step_finished(self, record: StepRecord) -> None:
        self.heard.append((self.name, "finished", record.name, record.status.value))


def _waits(clock: FakeClock, seconds: float, outcome: Outcome | None = None):
    def run(ctx: StepContext) -> Outcome | None:
        clock.advance(seconds)
        return outcome
    return run


def test_statuses_of_steps_that_pass_warn_and_skip() -> None:
    clock = FakeClock()

    def warns(ctx: StepContext) -> None:
        ctx.warn("the disk is nearly full")

    def skips(ctx: StepContext) -> None:
        ctx.skip("nothing to do")

    journal = run_steps([Step("plain", _waits(clock, 0)), Step("warns", warns),
                         Step("flagged", _waits(clock, 0, Outcome("look", {"n": 1}, warn=True))),
                         Step("skips", skips),
                         Step("said", _waits(clock, 0, Outcome("none", skipped=True)))],
                        Journal(), clock=clock)
    status = {s.name: s.status for s in journal.steps}
    assert status == {"plain": StepStatus.OK, "warns": StepStatus.WARN,
                      "flagged": StepStatus.WARN, "skips": StepStatus.SKIPPED,
                      "said": StepStatus.SKIPPED}
    assert journal.step("warns").warnings == ["the disk is nearly full"]  # type: ignore[union-attr]
    flagged = journal.step("flagged")
    assert flagged is not None and flagged.summary == "look" and flagged.detail == {"n": 1}
    assert all(s.status.passed for s in journal.steps) and journal.failed_step is None


def test_timings_come_from_the_injected_clock() -> None:
    clock = FakeClock()
    journal = run_steps([Step("a", _waits(clock, 1.5)), Step("b", _waits(clock, 0.25))],
                        Journal(), clock=clock)
    a, b = journal.steps
    assert (a.duration_s, b.duration_s) == (1.5, 0.25)
    assert a.started_utc == "2026-01-01T00:00:00.000Z"
    assert b.started_utc == "2026-01-01T00:00:01.500Z"
    assert journal.duration_s == 1.75


def test_a_failing_step_stops_the_run_and_keeps_its_error() -> None:
    clock = FakeClock()
    ran: list[str] = []

    def bad(ctx: StepContext) -> None:
        clock.advance(2)
        raise IntegrityError("archive hash differs", path="a.tar", expected="x", actual="y")

    journal = Journal()
    journal.plan([Step("first", _waits(clock, 0)), Step("bad", bad),
                  Step("after", lambda ctx: ran.append("after"))])
    assert [s.status for s in journal.steps] == [StepStatus.NOT_RUN] * 3
    with pytest.raises(IntegrityError) as err:
        run_steps([Step("first", _waits(clock, 0)), Step("bad", bad),
                   Step("after", lambda ctx: ran.append("after"))], journal, clock=clock)
    assert ran == []
    assert [s.status for s in journal.steps] == [StepStatus.OK, StepStatus.FAILED,
                                                 StepStatus.NOT_RUN]
    failed = journal.failed_step
    assert failed is not None and failed.name == "bad" and failed.duration_s == 2
    assert failed.error == err.value.to_dict() and err.value.journal is journal
    assert failed.error_message == "archive hash differs" and failed.error["actual"] == "y"


@pytest.mark.parametrize(("raised", "kind", "message", "code"), [
    (ValueError("bad slot"), VVTVError, "unexpected ValueError: bad slot", 1),
    (KeyError("slot"), VVTVError, "unexpected KeyError: 'slot'", 1),
    (FileNotFoundError(2, "No such file or directory", "/x/y"), VVTVError,
     "No such file or directory: /x/y", 1),
    (KeyboardInterrupt(), Interrupted, "interrupted", 4),
])
def test_a_foreign_exception_is_recorded_and_raised_as_the_one_error(
        raised: BaseException, kind: type[VVTVError], message: str, code: int) -> None:
    def boom(ctx: StepContext) -> None:
        raise raised

    journal = Journal()
    with pytest.raises(VVTVError) as err:
        run_steps([Step("boom", boom)], journal, clock=FakeClock())
    assert type(err.value) is kind and err.value.message == message
    assert err.value.exit_code == code and err.value.__cause__ is raised
    record = journal.steps[0]
    assert record.status is StepStatus.FAILED
    assert record.error == {**err.value.to_dict()} and record.error["exit_code"] == code
    assert as_error(err.value) is err.value


def test_observers_are_told_in_order() -> None:
    heard: list[tuple[str, ...]] = []

    def talks(ctx: StepContext) -> None:
        ctx.progress("halfway", 1, 2)

    run_steps([Step("a", talks), Step("b", lambda ctx: None)], Journal(),
              [Recorder("first", heard), Recorder("second", heard)], FakeClock())
    assert heard == [
        ("first", "started", "a", "1/2", "running"), ("second", "started", "a", "1/2", "running"),
        ("first", "progress", "a", "halfway", "1/2"), ("second", "progress", "a", "halfway", "1/2"),
        ("first", "finished", "a", "ok"), ("second", "finished", "a", "ok"),
        ("first", "started", "b", "2/2", "running"), ("second", "started", "b", "2/2", "running"),
        ("first", "finished", "b", "ok"), ("second", "finished", "b", "ok"),
    ]


def test_a_failed_step_is_finished_for_every_observer_before_the_error_is_raised() -> None:
    heard: list[tuple[str, ...]] = []

    def bad(ctx: StepContext) -> None:
        raise VVTVError("no")

    with pytest.raises(VVTVError):
        run_steps([Step("bad", bad)], Journal(), [Recorder("ui", heard)], FakeClock())
    assert heard[-1] == ("ui", "finished", "bad", "failed")


def _line(record: StepRecord) -> dict[str, Any]:
    return {"step": record.name, "status": record.status.value,
            "duration_s": record.duration_s, "error": record.error_message}


def test_the_evidence_observer_appends_one_chained_line_per_step(tmp_path: Path) -> None:
    clock = FakeClock()
    log = EvidenceLog(tmp_path / "run.jsonl", clock=clock)

    def bad(ctx: StepContext) -> None:
        raise VVTVError("stopped here")

    with pytest.raises(VVTVError):
        run_steps([Step("a", _waits(clock, 1)), Step("bad", bad), Step("never", _waits(clock, 0))],
                  Journal(), [EvidenceObserver(log, _line)], clock)
    lines = [{k: e[k] for k in ("step", "status", "duration_s", "error")} for e in log.entries()]
    assert lines == [{"step": "a", "status": "ok", "duration_s": 1.0, "error": None},
                     {"step": "bad", "status": "failed", "duration_s": 0.0,
                      "error": "stopped here"}]
    assert verify_chain(log.path).ok


class _Refusing:
    def append(self, record: dict[str, Any]) -> None:
        raise IntegrityError("the log was truncated", path="run.jsonl")


def test_a_log_that_refuses_the_line_fails_a_step_that_had_passed() -> None:
    heard: list[tuple[str, ...]] = []
    journal = Journal()
    with pytest.raises(IntegrityError, match="truncated"):
        run_steps([Step("a", lambda ctx: Outcome("done")), Step("b", lambda ctx: None)],
                  journal, [EvidenceObserver(_Refusing(), _line), Recorder("ui", heard)],
                  FakeClock())
    (a,) = journal.steps
    assert a.status is StepStatus.FAILED
    assert a.summary == "done; not journaled: the log was truncated"
    assert a.error is not None and a.error["error"] == "IntegrityError"
    assert heard[-1] == ("ui", "finished", "a", "failed")  # later observers still hear it


def test_a_failed_step_keeps_its_own_error_when_the_log_refuses_too() -> None:
    def bad(ctx: StepContext) -> None:
        raise VVTVError("the step's own error")

    journal = Journal()
    with pytest.raises(VVTVError, match="the step's own error"):
        run_steps([Step("bad", bad)], journal, [EvidenceObserver(_Refusing(), _line)],
                  FakeClock())
    assert journal.steps[0].error_message == "the step's own error"


def test_an_error_carries_the_journal_it_stopped() -> None:
    journal = Journal()
    exc = VVTVError("no").attach(journal)
    assert exc.journal is journal and VVTVError("other").journal is None


def test_the_cli_maps_a_stopped_run_in_one_place() -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from vvtvlib.cli.common import errors_to_exit
    from vvtvlib.core.errors import PrecheckFailed

    shown: list[str] = []

    def render(journal: Journal, exc: VVTVError, as_json: bool) -> str:
        shown.append(f"{len(journal.steps)} step(s), json={as_json}")
        return f"stopped in {journal.failed_step.name}: {exc.message}"  # type: ignore[union-attr]

    app = typer.Typer()

    @app.command()
    def run(as_json: bool = typer.Option(False, "--json")) -> None:
        def refuse(ctx: StepContext) -> None:
            raise PrecheckFailed("disk below threshold")

        with errors_to_exit(as_json, render):
            run_steps([Step("prechecks", refuse)], Journal(), clock=FakeClock())

    text = CliRunner().invoke(app, [])
    assert text.exit_code == 1
    assert "error: stopped in prechecks: disk below threshold" in text.stderr
    as_json = CliRunner().invoke(app, ["--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["steps"][0]["status"] == "failed"  # the journal
    assert shown == ["1 step(s), json=False", "1 step(s), json=True"]
