"""``vvtvctl evidence verify FILE [--since HEAD]``."""

from __future__ import annotations

from pathlib import Path

import typer

from vvtvlib.core.evidence import parse_head, verify_chain

from .common import JsonOpt, console, emit_json, errors_to_exit

evidence = typer.Typer(no_args_is_help=True, help="Hash-chained evidence logs.")


@evidence.command("verify")
def verify(file: Path = typer.Argument(..., help="A JSONL evidence log."),
           since: str | None = typer.Option(
               None, "--since", metavar="HEAD",
               help="A head kept elsewhere (a .head file, or SEQ:SHA256 inline): prove it is "
                    "still a prefix of the log."),
           as_json: bool = JsonOpt) -> None:
    """Check a log's hash chain and head anchor; name the first bad line."""
    with errors_to_exit(as_json):
        witness = parse_head(since) if since is not None else None
        report = verify_chain(file, since=witness)
    if as_json:
        emit_json(report.to_dict())
    if report.ok and not as_json:
        extra = f", witness head {report.since} is a prefix" if report.since else ""
        console.print(f"[green]ok[/]: {file}: {report.lines} lines, chain intact{extra}; "
                      f"head {report.head}", highlight=False)
    elif not report.ok:
        where = f"line {report.first_bad_line}: " if report.first_bad_line else ""
        console.print(f"[bold red]error:[/] {file}: {where}{report.reason}", highlight=False)
    raise typer.Exit(0 if report.ok else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(evidence, name="evidence")
