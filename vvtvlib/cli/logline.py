"""``logline``: signatures, snapshot verification and revival. Each command group registers itself."""

from __future__ import annotations

import typer

from .common import run_app

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Sign, verify and revive VVTV snapshots (minisign-compatible Ed25519).")

_MODULES: list[str] = []  # filled as command modules land: "signing_cmds", "revival_cmds"

for _name in _MODULES:
    __import__(f"vvtvlib.cli.{_name}", fromlist=["register"]).register(app)


@app.callback()
def _root() -> None:
    """Sign, verify and revive VVTV snapshots."""


main = run_app(app)
