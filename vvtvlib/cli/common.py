"""What every command line shares: error mapping to exit codes, --json output, progress.

Domain code never knows about exit codes; this edge maps ``VVTVError.exit_code``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from vvtvlib.core.errors import VVTVError
from vvtvlib.core.steps import Journal

# Says what a stopped run's journal shows (and may print it): returns the sentence for stderr.
JournalRenderer = Callable[[Journal, VVTVError, bool], str | None]

console = Console(stderr=True, soft_wrap=True)
out = Console()


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def fail(exc: VVTVError, *, as_json: bool = False,
         render: JournalRenderer | None = None) -> None:
    """The one place an error becomes output and an exit code. An error that stopped a run
    carries the run's journal: ``--json`` prints the journal (the report) instead of the
    bare error, and ``render`` may show it and word the sentence."""
    journal = exc.journal
    if as_json:
        emit_json(journal.to_dict() if journal is not None else exc.to_dict())
    message = exc.message
    if journal is not None and render is not None:
        message = render(journal, exc, as_json) or message
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def run_app(app: typer.Typer) -> Callable[[], None]:
    def main() -> None:
        try:
            app(standalone_mode=True)
        except VVTVError as exc:  # raised outside a command body (callbacks)
            console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            console.print("[bold red]error:[/] interrupted")
            sys.exit(4)
    return main


@contextmanager
def errors_to_exit(as_json: bool = False,
                   render: JournalRenderer | None = None) -> Iterator[None]:
    """Wrap a command body: a VVTVError becomes one sentence on stderr and its exit code
    (with its run's journal, see ``fail``)."""
    try:
        yield
    except VVTVError as exc:
        fail(exc, as_json=as_json, render=render)
    except KeyboardInterrupt:
        console.print("[bold red]error:[/] interrupted")
        raise typer.Exit(4) from None
    except OSError as exc:
        # A full disk or a permission problem: one sentence, not a traceback.
        console.print(f"[bold red]error:[/] {exc.strerror or exc}"
                      + (f": {exc.filename}" if exc.filename else ""), highlight=False)
        raise typer.Exit(1) from None


def progress(enabled: bool = True) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, disable=not enabled, transient=False)


RootOpt = typer.Option(None, "--root", envvar="VVTV_ROOT",
                       help="Station root (default /vvtv).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
