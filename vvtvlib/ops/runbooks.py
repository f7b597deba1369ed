"""Runbooks and playbooks checked: every alert's ``runbook_url`` resolves to a file and an
anchor that exist, every relative link does too, and every ``vvtvctl`` / ``logline``
command they show parses (its subcommand exists, ``--help`` of it succeeds, its options
are real). A runbook never tells an operator to run a command that does not exist.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import typer

from . import conventions as conv
from .rules import RuleSet

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^```")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_INLINE = re.compile(r"`([^`]+)`")
PROGRAMS = ("vvtvctl", "logline")


@dataclass(frozen=True)
class Command:
    file: str
    line: int
    text: str


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def anchors(path: Path) -> set[str]:
    out, fenced = set(), False
    for line in path.read_text().splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else _HEADING.match(line)
        if m:
            out.add(conv.anchor(m.group(2)))
    return out


def commands(path: Path, root: Path) -> list[Command]:
    """``vvtvctl``/``logline`` commands in fenced blocks and inline code spans."""
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    found, fenced = [], False
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        texts = [line.strip().removeprefix("$ ")] if fenced else _INLINE.findall(line)
        for text in texts:
            text = text.split(" > ", 1)[0].split(" | ", 1)[0].strip()
            if text.split(" ", 1)[0] in PROGRAMS:
                found.append(Command(rel, i, text))
    return found


def check_command(cmd: Command, apps: Mapping[str, typer.Typer]) -> str | None:
    """None when the command parses against ``apps`` (program name -> typer app, given by
    the caller: ops sits below the command line), else why not."""
    import typer.main
    from typer.testing import CliRunner

    try:
        words = shlex.split(cmd.text)
    except ValueError as exc:
        return f"cannot split {cmd.text!r}: {exc}"
    app = apps.get(words[0])
    if app is None:
        return f"{words[0]}: no such program"
    node = typer.main.get_command(app)
    path: list[str] = []
    rest = words[1:]
    while hasattr(node, "commands") and rest:
        sub = node.commands.get(rest[0])
        if sub is None:
            return f"{words[0]} {' '.join(path + [rest[0]])}: no such command"
        node, path, rest = sub, path + [rest[0]], rest[1:]
    if hasattr(node, "commands"):
        return f"{words[0]} {' '.join(path)}: a command group, not a command"
    known = {o for p in node.params for o in (*p.opts, *p.secondary_opts)}
    for word in rest:
        if word.startswith("--") and word.split("=", 1)[0] not in known:
            return f"{words[0]} {' '.join(path)}: no option {word.split('=', 1)[0]}"
    result = CliRunner().invoke(app, [*path, "--help"])
    if result.exit_code != 0:
        return f"{words[0]} {' '.join(path)} --help exited {result.exit_code}"
    return None


def documents(root: Path) -> list[Path]:
    return sorted((root / "ops" / "runbooks").glob("*.md")) + \
        sorted((root / "ops" / "playbooks").glob("*.md"))


def check_links(root: Path) -> list[Problem]:
    problems = []
    for doc in documents(root):
        rel = str(doc.relative_to(root))
        for i, line in enumerate(doc.read_text().splitlines(), 1):
            for target in _LINK.findall(line):
                if re.match(r"^[a-z]+://", target):
                    continue
                file, _, anchor = target.partition("#")
                dest = (doc.parent / file).resolve() if file else doc
                if not dest.exists():
                    problems.append(Problem(rel, i, f"link to a missing file {target}"))
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    problems.append(Problem(rel, i, f"link to a missing anchor {target}"))
    return problems


def check_alert_links(rules: RuleSet, root: Path) -> list[Problem]:
    problems = []
    for group in rules.groups:
        for rule in group.rules:
            if not rule.alert:
                continue
            url = rule.annotations.get("runbook_url", "")
            file, _, anchor = url.partition("#")
            path = root / file
            where = conv.RULES_FILE
            if not url:
                problems.append(Problem(where, 0, f"{rule.alert} has no runbook_url"))
            elif not path.exists():
                problems.append(Problem(where, 0, f"{rule.alert}: {file} does not exist"))
            elif anchor not in anchors(path):
                problems.append(Problem(where, 0, f"{rule.alert}: no anchor #{anchor} in {file}"))
            elif conv.anchor(rule.alert) != anchor:
                problems.append(Problem(where, 0, f"{rule.alert}: anchor #{anchor} is not the "
                                        "alert's name"))
    return problems


def check_commands(root: Path, apps: Mapping[str, typer.Typer]) -> list[Problem]:
    problems = []
    for doc in documents(root):
        for cmd in commands(doc, root):
            why = check_command(cmd, apps)
            if why:
                problems.append(Problem(cmd.file, cmd.line, why))
    return problems
