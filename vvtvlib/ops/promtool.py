"""Debian's ``promtool``: ``check rules`` and ``test rules`` on the generated files."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vvtvlib.core.errors import DependencyMissing, TimedOut

from .fixtures import Case, render_test_file


@dataclass(frozen=True)
class PromtoolResult:
    command: list[str]
    ok: bool
    output: str


def promtool_exe() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        raise DependencyMissing("promtool is not installed (Debian package `prometheus`)")
    return exe


def _run(args: list[str], cwd: Path | None = None, timeout_s: float = 300) -> PromtoolResult:
    cmd = [promtool_exe(), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise TimedOut(f"promtool {' '.join(args[:2])} did not finish in {timeout_s:g} s") \
            from None
    return PromtoolResult(cmd, proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def check_rules(rules: Path) -> PromtoolResult:
    return _run(["check", "rules", str(rules)])


def run_rule_tests(test_files: list[Path]) -> PromtoolResult:
    return _run(["test", "rules", *[str(p) for p in test_files]])


def run_cases(cases: list[Case], rules: Path) -> PromtoolResult:
    """Run some fixture cases on their own (the drill shows one result per alert)."""
    with tempfile.TemporaryDirectory(prefix="vvtv-promtool-") as tmp:
        path = Path(tmp) / "cases_test.yaml"
        path.write_text(render_test_file(cases, str(rules.resolve())))
        return run_rule_tests([path])
