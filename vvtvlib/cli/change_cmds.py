"""``vvtvctl change new|preflight|apply``: change requests with an automated preflight and an
automatic rollback."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from vvtvlib.core.clock import SYSTEM_CLOCK
from vvtvlib.core.errors import VVTVError
from vvtvlib.core.steps import Journal
from vvtvlib.ops.change import (
    ChangeJournal,
    PreflightOptions,
    apply_change,
    find_cr,
    new_cr,
    preflight,
)
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.oncall.escalation import parse_at

from .common import JsonOpt, RootOpt, emit_json, errors_to_exit, out

change = typer.Typer(no_args_is_help=True, help="Change requests: new, preflight, apply.")

DirOpt = typer.Option(REPO / "ops" / "change_requests", "--dir",
                      help="Folder of change requests.")
AtOpt = typer.Option(None, "--at", help="The time the window is checked at (UTC, ISO-8601).")
PromOpt = typer.Option(None, "--prometheus", envvar="VVTV_PROMETHEUS_URL",
                       help="Prometheus URL for the error-budget gate.")
SamplesOpt = typer.Option(None, "--samples", help="A recording for the error-budget gate.")
NoPromtoolOpt = typer.Option(False, "--no-promtool", help="Skip the promtool check.")
NoSmokeOpt = typer.Option(False, "--no-smoke", help="Skip the Locust smoke.")


def _opts(root: Path | None, at: str | None, prometheus: str | None, samples: Path | None,
          no_promtool: bool, no_smoke: bool) -> PreflightOptions:
    from . import logline, vvtvctl

    return PreflightOptions(REPO, {"vvtvctl": vvtvctl.app, "logline": logline.app},
                            root=root, prometheus=prometheus, samples=samples,
                            promtool=not no_promtool, smoke=not no_smoke,
                            at=parse_at(at, SYSTEM_CLOCK.now()) if at else None)


def _show(journal: Journal) -> None:
    for s in journal.steps:
        if s.name in ("settle",):
            continue
        mark = {"ok": "[green]PASS[/]", "warn": "[yellow]PASS[/]", "skipped": "[dim]SKIP[/]",
                "failed": "[bold red]FAIL[/]"}.get(s.status.value, s.status.value)
        out.print(f"{mark} {s.title or s.name}: {s.summary}", highlight=False)


def _render(journal: Journal, exc: VVTVError, as_json: bool) -> str | None:
    if not as_json:
        _show(journal)
    if isinstance(journal, ChangeJournal) and journal.outcome:
        return f"{journal.cr}: {journal.outcome}: {exc.message}"
    return None


@change.command("new")
def new_cmd(slug: str = typer.Option(..., "--slug", help="Lower-case words with dashes."),
            owner: str = typer.Option(os.environ.get("USER", "operator"), "--owner",
                                      help="Who owns the change."),
            title: str = typer.Option("", "--title", help="One line."),
            at: str = AtOpt, folder: Path = DirOpt, as_json: bool = JsonOpt) -> None:
    """Write CR-YYYYMMDD-<slug>.md from the template."""
    with errors_to_exit(as_json):
        path = new_cr(folder, slug, owner=owner, title=title,
                      at=parse_at(at, SYSTEM_CLOCK.now()))
        if as_json:
            emit_json({"path": str(path), "id": path.stem})
        else:
            out.print(f"wrote {path}: fill in the description, risks, rollback, flags and "
                      "approval, then `vvtvctl change preflight " + path.stem + "`")


@change.command("preflight")
def preflight_cmd(cr: str = typer.Argument(..., metavar="CR", help="CR id or file."),
                  root: Path = RootOpt, at: str = AtOpt, prometheus: str = PromOpt,
                  samples: Path = SamplesOpt, no_promtool: bool = NoPromtoolOpt,
                  no_smoke: bool = NoSmokeOpt, folder: Path = DirOpt,
                  as_json: bool = JsonOpt) -> None:
    """Each check PASS/FAIL with its reason (exit 1 when one fails)."""
    with errors_to_exit(as_json, render=_render):
        journal = preflight(find_cr(folder, cr),
                            _opts(root, at, prometheus, samples, no_promtool, no_smoke))
        if as_json:
            emit_json(journal.to_dict())
        else:
            _show(journal)
            out.print(f"{journal.cr}: ready to apply")


@change.command("apply")
def apply_cmd(cr: str = typer.Argument(..., metavar="CR", help="CR id or file."),
              root: Path = RootOpt, at: str = AtOpt, prometheus: str = PromOpt,
              samples: Path = SamplesOpt, no_promtool: bool = NoPromtoolOpt,
              no_smoke: bool = NoSmokeOpt, folder: Path = DirOpt,
              as_json: bool = JsonOpt) -> None:
    """Preflight, apply the CR's flags, post-change smoke; roll back by itself on failure."""
    with errors_to_exit(as_json, render=_render):
        journal = apply_change(find_cr(folder, cr),
                               _opts(root, at, prometheus, samples, no_promtool, no_smoke))
        if as_json:
            emit_json(journal.to_dict())
        else:
            _show(journal)
            out.print(f"{journal.cr}: applied {journal.flags_after}")


def register(app: typer.Typer) -> None:
    app.add_typer(change, name="change")
