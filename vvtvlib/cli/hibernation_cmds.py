"""``vvtvctl lockdown`` and ``vvtvctl resume``: the M2 checklists, printed step by step."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vvtvlib.core.errors import VVTVError
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.steps import Journal, StepObserver, StepRecord, StepStatus
from vvtvlib.hibernation import ChecklistReport, LockdownOptions, ResumeOptions, lockdown, resume
from vvtvlib.hibernation.immutability import METHODS
from vvtvlib.hibernation.report import step_dict

from .common import JsonOpt, RootOpt, console, emit_json, errors_to_exit, out

_MARK = {StepStatus.OK: "[green]✓[/]", StepStatus.WARN: "[yellow]![/]",
         StepStatus.FAILED: "[bold red]✗[/]", StepStatus.SKIPPED: "[dim]–[/]"}


class _Printer(StepObserver):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.n = 0

    def step_started(self, record: StepRecord, index: int, total: int) -> None:
        self.n = index

    def step_finished(self, record: StepRecord) -> None:
        if self.enabled:
            console.print(f"{_MARK.get(record.status, '?')} {self.n:>2}. {record.title}: "
                          f"{step_dict(record)['detail']} [dim]({record.duration_s:.2f} s)[/]",
                          highlight=False)


def _table(report: ChecklistReport) -> None:
    table = Table(title=f"{report.kind} checklist ({report.run_id})")
    for col in ("step", "status", "detail"):
        table.add_column(col)
    for s in report.steps:
        table.add_row(s.title, s.status.value, step_dict(s)["detail"])
    out.print(table)


def _stopped(journal: Journal, exc: VVTVError, as_json: bool) -> None:
    if isinstance(journal, ChecklistReport) and not as_json:
        _table(journal)


def _finish(report: ChecklistReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_dict())
    else:
        _table(report)
    raise typer.Exit(0)


def lockdown_cmd(root: Path | None = RootOpt,
                 guardian: bool = typer.Option(True, "--guardian/--no-guardian",
                                               help="Start sleepguardd detached afterwards."),
                 immutability: str = typer.Option("auto", "--immutability",
                                                  help="auto (flag where possible, else "
                                                       "read-only modes), chattr, readonly."),
                 rotate_keys: bool = typer.Option(True, "--rotate-keys/--no-rotate-keys",
                                                  help="Rotate keys that expire soon."),
                 horizon: float = typer.Option(60.0, "--key-horizon-days", min=0,
                                               help="Keys expiring within this are due."),
                 interval: float | None = typer.Option(None, "--interval", min=0,
                                                       help="Guardian interval (s)."),
                 sample: int | None = typer.Option(None, "--sample", min=1,
                                                   help="Guardian 1:N slice."),
                 as_json: bool = JsonOpt) -> None:
    """Make the newest verified snapshot immutable, bring services down, rotate expiring
    keys, record the guardian baseline and start the guardian."""
    with errors_to_exit(as_json, _stopped):
        if immutability not in METHODS:
            from vvtvlib.core.errors import UsageError

            raise UsageError(f"--immutability must be one of {', '.join(METHODS)}")
        options = LockdownOptions(guardian=guardian, immutability=immutability,  # type: ignore[arg-type]
                                  rotate_keys=rotate_keys, key_horizon_days=horizon,
                                  guardian_interval_s=interval, guardian_sample=sample)
        report = lockdown(StationLayout.at(root), options, observer=_Printer(not as_json))
        _finish(report, as_json)


def resume_cmd(root: Path | None = RootOpt,
               timeout: float = typer.Option(120.0, "--timeout", min=1,
                                             help="Seconds to wait for the station."),
               force: bool = typer.Option(False, "--force",
                                          help="Resume even if lockdown did not finish."),
               as_json: bool = JsonOpt) -> None:
    """Verify the vault and the databases, reverse the flags and bring the station back in
    the safe order."""
    with errors_to_exit(as_json, _stopped):
        report = resume(StationLayout.at(root),
                        ResumeOptions(station_timeout_s=timeout, force=force),
                        observer=_Printer(not as_json))
        _finish(report, as_json)


def register(app: typer.Typer) -> None:
    app.command("lockdown")(lockdown_cmd)
    app.command("resume")(resume_cmd)
