"""``vvtvctl ritual``: the M1 shutdown ritual (or its ``--dry-run`` rehearsal)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from vvtvlib.core.errors import VVTVError
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.steps import Journal, StepRecord
from vvtvlib.ritual import (
    CheckResult,
    RitualJournal,
    RitualObserver,
    RitualOptions,
    Verdict,
    run_ritual,
)

from .common import JsonOpt, RootOpt, console, emit_json, errors_to_exit, progress

_COLOURS = {"pass": "green", "warn": "yellow", "fail": "red", "ok": "green",
            "failed": "red", "skipped": "yellow"}


class ProgressObserver(RitualObserver):
    """One progress line per step; the snapshot step shows bytes archived."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, TaskID] = {}

    def step_started(self, record: StepRecord, index: int, total: int) -> None:
        self.tasks[record.name] = self.bar.add_task(f"[{index}/{total}] {record.name}",
                                                    total=None)

    def step_progress(self, record: StepRecord, message: str, done: int | None = None,
                      total: int | None = None) -> None:
        if record.name in self.tasks and done is not None:
            self.bar.update(self.tasks[record.name], completed=done, total=total)

    def step_finished(self, record: StepRecord) -> None:
        task = self.tasks.get(record.name)
        if task is not None:
            colour = _COLOURS.get(record.status.value, "white")
            self.bar.update(task, total=1, completed=1,
                            description=f"[{colour}]{record.name}[/] {record.status.value} "
                                        f"({record.duration_s:.2f} s)")

    def check(self, result: CheckResult) -> None:
        if result.verdict is not Verdict.PASS:
            colour = _COLOURS[result.verdict.value]
            self.bar.console.print(f"  [{colour}]{result.verdict.value}[/] {result.sentence()}",
                                   highlight=False)


def _checks_table(journal: RitualJournal) -> Table:
    table = Table(title="pre-checks", show_lines=False)
    for col in ("check", "verdict", "measured", "threshold"):
        table.add_column(col)
    for c in journal.prechecks:
        colour = _COLOURS[c.verdict.value]
        unit = f" {c.unit}" if c.unit and isinstance(c.measured, (int, float)) else ""
        table.add_row(c.name, f"[{colour}]{c.verdict.value}[/]", f"{c.measured}{unit}",
                      str(c.threshold))
    return table


def _stopped(journal: Journal, exc: VVTVError, as_json: bool) -> None:
    """A refused run shows which pre-checks failed, measured against their thresholds."""
    if isinstance(journal, RitualJournal) and not as_json and journal.failed_checks:
        console.print(_checks_table(journal))


SetOpt = typer.Option([], "--set", metavar="SECTION.KEY=VALUE",
                      help="Override a ritual.toml value for this run (repeatable), "
                           "e.g. prechecks.encoder_stable_s=5.")


def ritual(
    root: Path | None = RootOpt,
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Monthly rehearsal: a small sample snapshot, signed and "
                                      "verified, into vault/rehearsals/; the station stays on "
                                      "air and is thawed at the end."),
    strict: bool = typer.Option(False, "--strict",
                                help="Treat every warning (unreadable CPU temperature, a final "
                                     "frame beyond tolerance) as a failure."),
    overrides: list[str] = SetOpt,
    closing_bell: bool | None = typer.Option(None, "--closing-bell/--no-closing-bell",
                                             help="Render the 5 s closing_bell.mp4 after the "
                                                  "stop (default: the stop.closing_bell setting)."),
    as_json: bool = JsonOpt,
) -> None:
    """Shut the station down with a signed snapshot (seed M1), or rehearse it with --dry-run."""
    with errors_to_exit(as_json, _stopped):
        layout = StationLayout.at(root)
        options = RitualOptions(dry_run=dry_run, strict=strict, overrides=list(overrides),
                                closing_bell=closing_bell)
        with progress(enabled=not as_json) as bar:
            journal = run_ritual(layout, options, ProgressObserver(bar))
        if as_json:
            emit_json(journal.to_dict())
            return
        console.print(_checks_table(journal))
        for warning in journal.warnings:
            console.print(f"[yellow]warning[/]: {warning}", highlight=False)
        what = "rehearsal" if dry_run else "snapshot"
        console.print(f"[green]ok[/]: {what} sealed at {journal.snapshot_dir} "
                      f"(generation {journal.generation}, manifest sha256 "
                      f"{journal.manifest_sha256}) in {journal.duration_s:.1f} s",
                      highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("ritual")(ritual)
