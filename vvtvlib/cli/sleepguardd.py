"""`sleepguardd`."""

from __future__ import annotations

import typer

from .common import run_app

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _root() -> None:
    """sleepguardd."""


main = run_app(app)
