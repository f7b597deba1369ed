"""``logline``: signatures, snapshot verification and revival."""

from __future__ import annotations

import typer

from . import export_cmds, revival_cmds, signing_cmds
from .common import run_app

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Sign, verify and revive VVTV snapshots (minisign-compatible Ed25519).")

for module in (signing_cmds, revival_cmds, export_cmds):
    module.register(app)

main = run_app(app)

if __name__ == "__main__":
    main()
