"""``vvtvctl evidence verify FILE``."""

from __future__ import annotations

from pathlib import Path

import typer

from vvtvlib.core.evidence import verify_chain

from .common import JsonOpt, console, emit_json

evidence = typer.Typer(no_args_is_help=True, help="Hash-chained evidence logs.")


@evidence.command("verify")
def verify(file: Path = typer.Argument(..., help="A JSONL evidence log."),
           as_json: bool = JsonOpt) -> None:
    """Check a log's hash chain; name the first bad line."""
    report = verify_chain(file)
    if as_json:
        emit_json(report.to_dict())
    if report.ok and not as_json:
        console.print(f"[green]ok[/]: {file}: {report.lines} lines, chain intact")
        for w in report.warnings:
            console.print(f"[yellow]warning[/]: {w}")
    elif not report.ok:
        console.print(f"[bold red]error:[/] {file}: line {report.first_bad_line}: {report.reason}",
                      highlight=False)
    raise typer.Exit(0 if report.ok else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(evidence, name="evidence")
