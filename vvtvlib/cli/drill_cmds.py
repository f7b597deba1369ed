"""``vvtvctl drill run|all|list``: papermill drills into rendered reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from vvtvlib.core.errors import UsageError
from vvtvlib.drills import available_drills, run_drill
from vvtvlib.drills.harness import new_run_stamp
from vvtvlib.drills.lab import clear_lab

from .common import JsonOpt, console, emit_json, errors_to_exit

drill = typer.Typer(no_args_is_help=True, help="Run drill notebooks into reports/.")


def _parse_params(args: list[str]) -> dict[str, Any]:
    """``-p key value`` pairs, papermill style; values parse as JSON when they can."""
    params: dict[str, Any] = {}
    i = 0
    while i < len(args):
        if args[i] not in ("-p", "--parameter"):
            raise UsageError(f"unexpected argument {args[i]!r}; "
                             "parameters are given as -p KEY VALUE")
        if i + 2 >= len(args) + 1:
            raise UsageError(f"parameter after {args[i]!r} needs a KEY and a VALUE")
        key, raw = args[i + 1], args[i + 2]
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
        i += 3
    return params


def _print(result: Any) -> None:
    colour = "green" if result.status == "PASS" else "red"
    console.print(f"[bold {colour}]{result.status}[/] {result.name} "
                  f"({result.duration_s:.1f} s) -> {result.html or result.notebook}")
    for c in result.criteria:
        mark = "[green]PASS[/]" if c["passed"] else "[red]FAIL[/]"
        console.print(f"    {mark} {c['name']}")
    if result.error:
        console.print(f"    [red]{result.error}[/]", highlight=False)


@drill.command("run", context_settings={"allow_extra_args": True,
                                        "ignore_unknown_options": True})
def run(ctx: typer.Context, name: str = typer.Argument(..., help="Notebook name in notebooks/."),
        out: Path = typer.Option(Path("reports"), "--out", help="Reports folder."),
        as_json: bool = JsonOpt) -> None:
    """Execute notebooks/NAME.ipynb with papermill (-p KEY VALUE ...) and render it."""
    with errors_to_exit(as_json):
        result = run_drill(name, _parse_params(list(ctx.args)), out=out)
        emit_json(result.to_dict()) if as_json else _print(result)
        raise typer.Exit(0 if result.status == "PASS" else 1)


@drill.command("all")
def run_all(lab: Path = typer.Option(Path("lab"), "--lab", help="Lab folder (recreated)."),
            out: Path = typer.Option(Path("reports"), "--out", help="Reports folder."),
            profile: str = typer.Option("embedded", "--profile"),
            as_json: bool = JsonOpt) -> None:
    """Run every drill in order, each on a fresh lab station under LAB/<drill>."""
    with errors_to_exit(as_json):
        clear_lab(lab)
        results = []
        run_stamp = new_run_stamp(out)
        for name in available_drills():
            console.rule(f"drill {name}")
            params = {"root": str((lab / name).absolute()), "profile": profile}
            result = run_drill(name, params, out=out, run_stamp=run_stamp, progress=True)
            results.append(result)
            if not as_json:
                _print(result)
        if as_json:
            emit_json([r.to_dict() for r in results])
        console.print(f"index: {(out / 'index.html')}")
        raise typer.Exit(0 if all(r.status == "PASS" for r in results) else 1)


@drill.command("clean")
def clean(lab: Path = typer.Option(Path("lab"), "--lab", help="Lab folder to remove.")) -> None:
    """Stop the lab's stations and remove the lab folder (locked-down snapshots included)."""
    clear_lab(lab)


@drill.command("list")
def list_drills() -> None:
    """List the drills in notebooks/, in the order `drill all` runs them."""
    for name in available_drills():
        typer.echo(name)


def register(app: typer.Typer) -> None:
    app.add_typer(drill, name="drill")
