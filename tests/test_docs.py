"""The README documents every command and every ritual setting (tested, like datasette)."""

from __future__ import annotations

from pathlib import Path

import click
import typer.main

from vvtvlib.cli import logline, sleepguardd, vvtvctl
from vvtvlib.ritual.config import RitualConfig

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands(group: click.Command, prefix: str) -> list[str]:
    # typer >= 0.20 builds its groups on its own copy of click: look for sub-commands
    if isinstance(group, click.Group) or hasattr(group, "commands"):
        out = []
        for name, cmd in group.commands.items():  # type: ignore[attr-defined]
            out += _commands(cmd, f"{prefix} {name}")
        return out
    return [prefix]


def test_every_command_is_in_the_readme() -> None:
    missing = []
    for prog, app in (("vvtvctl", vvtvctl.app), ("logline", logline.app)):
        for cmd in _commands(typer.main.get_command(app), prog):
            words = cmd.split()
            # "vvtvctl planner pause" is documented as "vvtvctl planner|realizer|discovery pause"
            if cmd not in README and not all(w in README for w in words):
                missing.append(cmd)
    assert not missing, f"commands missing from README.md: {missing}"


def test_slo_options_are_in_the_readme() -> None:
    group = typer.main.get_command(vvtvctl.app).commands["slo"]  # type: ignore[attr-defined]
    section = README.split("## Epic O", 1)[1].split("\n## ", 1)[0]
    for name, cmd in group.commands.items():
        assert f"vvtvctl slo {name}" in section, name
        for p in cmd.params:
            for opt in (*p.opts, *p.secondary_opts):
                if opt.startswith("--") and opt != "--help":
                    assert opt in section, f"vvtvctl slo {name} {opt} is not documented"


def test_sleepguardd_options_are_in_the_readme() -> None:
    cmd = typer.main.get_command(sleepguardd.app)
    params = cmd.params if not isinstance(cmd, click.Group) else []
    for p in params:
        for opt in p.opts:
            if opt.startswith("--") and opt != "--help":
                assert opt in README, f"sleepguardd {opt} is not documented"


def test_every_ritual_setting_is_in_the_readme() -> None:
    for section, model in RitualConfig.model_fields.items():
        sub = model.annotation
        for key in getattr(sub, "model_fields", {}):
            assert f"{section}.{key}" in README or f"`{key}`" in README, \
                f"ritual.toml {section}.{key} is not documented"


def test_on_call_options_are_in_the_readme() -> None:
    section = README.split("## Epic O — on-call tools", 1)[1].split("\n## ", 1)[0]
    root = typer.main.get_command(vvtvctl.app)
    for group in ("ops", "flags", "oncall", "streaming", "snapshot", "validate", "change",
                  "incident"):
        for name, cmd in root.commands[group].commands.items():  # type: ignore[attr-defined]
            assert f"vvtvctl {group} {name}" in section, f"{group} {name}"
            for p in cmd.params:
                for opt in (*p.opts, *p.secondary_opts):
                    if opt.startswith("--") and opt != "--help":
                        assert opt in section, f"vvtvctl {group} {name} {opt} is not documented"
