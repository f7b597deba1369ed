"""``vvtvctl flags get|set|list``: feature flags applied by running services without restart."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vvtvlib.core.features import flags_path
from vvtvlib.ops import flags as flags_mod

from .common import JsonOpt, RootOpt, emit_json, errors_to_exit, out

flags = typer.Typer(no_args_is_help=True, help="Feature flags (ops/flags/features.toml).")

FileOpt = typer.Option(None, "--file",
                       help="Flags file (default <root>/system/configs/features.toml).")


def flags_file(root: Path | None, file: Path | None) -> Path:
    return file if file is not None else flags_path(root)


@flags.command("list")
def list_cmd(root: Path = RootOpt, file: Path = FileOpt, as_json: bool = JsonOpt) -> None:
    """Every flag and its value."""
    with errors_to_exit(as_json):
        values = flags_mod.list_flags(flags_file(root, file))
        if as_json:
            emit_json(values)
            return
        table = Table("flag", "value")
        for name, value in values.items():
            table.add_row(name, str(value))
        out.print(table)


@flags.command("get")
def get_cmd(flag: str = typer.Argument(..., help="Dotted name, e.g. curator.apply_enabled."),
            root: Path = RootOpt, file: Path = FileOpt, as_json: bool = JsonOpt) -> None:
    """One flag's value."""
    with errors_to_exit(as_json):
        value = flags_mod.get_flag(flags_file(root, file), flag)
        if as_json:
            emit_json({"flag": flag, "value": value})
        else:
            out.print(str(value).lower() if isinstance(value, bool) else str(value))


@flags.command("set")
def set_cmd(assignment: str = typer.Argument(..., metavar="FLAG=VALUE",
                                             help="e.g. curator.apply_enabled=false (on|off)."),
            reason: str = typer.Option("", "--reason", help="Why (goes to the audit log)."),
            root: Path = RootOpt, file: Path = FileOpt, as_json: bool = JsonOpt) -> None:
    """Change one flag atomically and audit it; running services apply it within a second."""
    with errors_to_exit(as_json):
        flag, text = flags_mod.parse_assignment(assignment)
        value = flags_mod.parse_value(flag, text) if flag in flags_mod.names() else text
        change = flags_mod.set_flag(flags_file(root, file), flag, value, reason=reason)
        if as_json:
            emit_json(change.to_dict())
        else:
            out.print(f"{change.flag}: {change.old} -> {change.new} (audited in "
                      f"{flags_mod.audit_path(Path(change.path))})")


def register(app: typer.Typer) -> None:
    app.add_typer(flags, name="flags")
