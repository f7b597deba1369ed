"""``vvtvctl slo generate``: everything derived from the catalog, written or checked.

Outputs (paths relative to the repository): ``alerts/prometheus_rules.yaml``,
``ops/tests/<service>_test.yaml`` and ``dashboards/<name>.json``. ``check`` compares them
with what the catalog generates now and names the stale ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vvtvlib.core.fsio import atomic_write

from . import conventions as conv
from .catalog import Catalog, load_catalog
from .fixtures import build_fixtures
from .rules import RuleSet, build_rules
from .windows import WindowTable, load_windows

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Generated:
    catalog: Catalog
    table: WindowTable
    rules: RuleSet
    files: dict[str, str]  # relative path -> content


def generate(repo: Path = REPO, *, dashboards: bool = True) -> Generated:
    catalog = load_catalog(repo / conv.CATALOG_DIR)
    table = load_windows(repo / conv.WINDOWS_FILE)
    rules = build_rules(catalog, table)
    files = {conv.RULES_FILE: rules.to_yaml()}
    for name, text in build_fixtures(catalog, rules, table).items():
        files[f"{conv.TESTS_DIR}/{name}"] = text
    if dashboards:
        from .dashboards import build_dashboards

        for name, text in build_dashboards(catalog, rules).items():
            files[f"{conv.DASHBOARDS_DIR}/{name}"] = text
    return Generated(catalog, table, rules, files)


def write(gen: Generated, repo: Path = REPO) -> list[str]:
    changed = []
    for rel, text in gen.files.items():
        path = repo / rel
        if not path.exists() or path.read_text() != text:
            atomic_write(path, text)
            changed.append(rel)
    return changed


def stale(gen: Generated, repo: Path = REPO) -> list[str]:
    return [rel for rel, text in gen.files.items()
            if not (repo / rel).exists() or (repo / rel).read_text() != text]
