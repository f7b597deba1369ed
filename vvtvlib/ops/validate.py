"""``vvtvctl validate all``: every TOML/YAML parses, the catalog, flags, rota and escalation
validate, the generated files are current, promtool checks and tests the rules, and every
runbook link and command resolves. Each problem is named; any problem fails the check.

The CLI apps the runbook commands are checked against come from the caller (the layer
contract: ops does not import the CLI).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer
import yaml

from vvtvlib.core.errors import VVTVError
from vvtvlib.core.features import load_features

from . import conventions as conv

# where the repository keeps configuration (generated data like notebooks is not config)
CONFIG_DIRS = ("ops", "alerts", "deploy", "chaos", "dashboards")


@dataclass
class Check:
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class ValidateReport:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[str]:
        return [f"{c.name}: {p}" for c in self.checks for p in c.problems]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def config_files(repo: Path, extra: list[Path] | None = None) -> list[Path]:
    files: list[Path] = []
    for d in CONFIG_DIRS:
        base = repo / d
        if base.is_dir():
            files += [p for p in base.rglob("*") if p.suffix in (".toml", ".yaml", ".yml")
                      and p.is_file()]
    for p in [repo / "pyproject.toml", *(extra or [])]:
        if p.is_file():
            files.append(p)
    return sorted(set(files))


def parse_all(files: list[Path], base: Path) -> Check:
    problems = []
    for p in files:
        rel = p.relative_to(base) if p.is_relative_to(base) else p
        try:
            if p.suffix == ".toml":
                tomllib.loads(p.read_text())
            else:
                list(yaml.safe_load_all(p.read_text()))
        except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problems.append(f"{rel}: {first}")
    return Check("parse", not problems, problems, f"{len(files)} TOML/YAML files")


def _guard(name: str, fn: Any) -> Check:
    try:
        detail = fn()
        return Check(name, True, [], str(detail or ""))
    except VVTVError as exc:
        return Check(name, False, [exc.message])


def validate_all(repo: Path, apps: Mapping[str, typer.Typer], *, root: Path | None = None,
                 promtool: bool = True) -> ValidateReport:
    from .catalog import load_catalog
    from .generate import generate, stale
    from .oncall.escalation import load_policy
    from .oncall.rota import Rota
    from .runbooks import check_alert_links, check_links

    extra: list[Path] = []
    if root is not None:
        cfg = root / "system" / "configs"
        if cfg.is_dir():
            extra += [p for p in cfg.iterdir() if p.suffix in (".toml", ".yaml", ".yml")]
    checks = [parse_all(config_files(repo, extra), repo)]
    checks.append(_guard("catalog", lambda: f"{len(load_catalog(repo / conv.CATALOG_DIR).slos())}"
                         " SLOs"))
    flag_files = [repo / "ops" / "flags" / "features.toml"]
    if root is not None:
        flag_files.append(root / "system" / "configs" / "features.toml")
    for f in flag_files:
        if f.exists():
            checks.append(_guard(f"flags {f.name}" if f.parent.name == "flags"
                                 else f"flags {f}", lambda f=f: len(load_features(f).flat())))
    checks.append(_guard("rota", lambda: f"{len(Rota.load(repo / 'ops/oncall/rota.ics').shifts)}"
                         " shifts"))
    checks.append(_guard("escalation",
                         lambda: load_policy(repo / "ops/oncall/escalation.yaml").timeouts_min))
    try:
        gen = generate(repo, dashboards=True)
        old = stale(gen, repo)
        checks.append(Check("generated", not old,
                            [f"{rel} differs from the catalog (run `vvtvctl slo generate`)"
                             for rel in old]))
        alerts = check_alert_links(gen.rules, repo)
        checks.append(Check("alert runbook links", not alerts, [str(p) for p in alerts]))
    except VVTVError as exc:
        checks.append(Check("generated", False, [exc.message]))
    links = check_links(repo)
    checks.append(Check("runbook links", not links, [str(p) for p in links]))
    cmds = _commands_checked(repo, apps)
    checks.append(Check("runbook commands", not cmds, cmds))
    if promtool:
        checks += promtool_checks(repo)
    return ValidateReport(checks)


_COMMANDS: dict[tuple[Any, ...], list[str]] = {}


def _commands_checked(repo: Path, apps: Mapping[str, typer.Typer]) -> list[str]:
    """``check_commands`` runs every runbook command's ``--help`` (seconds): remembered per
    process while the runbooks and the apps are the same."""
    from .runbooks import check_commands, documents

    key = (str(repo), tuple(id(a) for a in apps.values()),
           tuple((str(d), d.stat().st_mtime_ns, d.stat().st_size) for d in documents(repo)))
    if key not in _COMMANDS:
        _COMMANDS[key] = [str(p) for p in check_commands(repo, apps)]
    return list(_COMMANDS[key])


def promtool_checks(repo: Path) -> list[Check]:
    from .promtool import check_rules, run_rule_tests

    out = []
    try:
        res = check_rules(repo / conv.RULES_FILE)
        out.append(Check("promtool check rules", res.ok, [] if res.ok else
                         res.output.splitlines()[-5:]))
        tests = sorted((repo / conv.TESTS_DIR).glob("*_test.yaml"))
        res = run_rule_tests(tests)
        out.append(Check("promtool test rules", res.ok, [] if res.ok else
                         [ln for ln in res.output.splitlines() if "FAILED" in ln or "error" in
                          ln.lower()][:10] or res.output.splitlines()[-5:],
                         f"{len(tests)} fixture files"))
    except VVTVError as exc:
        out.append(Check("promtool", False, [exc.message]))
    return out
