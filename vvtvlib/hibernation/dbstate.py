"""Proof that no state was lost: every business database (``data/*.sqlite`` except
``control.sqlite``, whose flags are what resume reverses) has the same tables, row counts and
ordered per-table digests as the signed manifest recorded at the ritual."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.schema import Manifest, TableDigest
from vvtvlib.vault.sqlite import table_digests

EXCLUDED = ("control.sqlite",)


def business_databases(layout: StationLayout) -> list[Path]:
    return sorted(p for p in layout.data.glob("*.sqlite") if p.name not in EXCLUDED)


def database_files(layout: StationLayout) -> list[Path]:
    """The business databases and their WAL/shared-memory files, where present."""
    out = []
    for db in business_databases(layout):
        out += [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
    return out


@dataclass
class StateProof:
    ok: bool
    databases: int
    tables: int
    rows: int
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    per_table: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


DatabaseState = dict[str, dict[str, TableDigest]]  # database -> table -> rows and digest


def expected_state(manifest: Manifest) -> DatabaseState:
    return {db: dict(model.tables) for db, model in manifest.databases.items()
            if db not in EXCLUDED}


def current_state(layout: StationLayout) -> DatabaseState:
    return {db.name: table_digests(db) for db in business_databases(layout)}


def compare_state(expected: DatabaseState, actual: DatabaseState) -> StateProof:
    """Pure comparison: every database and table both sides, rows and digest equal."""
    mismatches: list[dict[str, Any]] = []
    per_table: list[dict[str, Any]] = []
    for db in sorted(set(expected) | set(actual)):
        if db not in actual:
            mismatches.append({"database": db, "kind": "missing database"})
            continue
        if db not in expected:
            mismatches.append({"database": db, "kind": "database not in the manifest"})
            continue
        for table in sorted(set(expected[db]) | set(actual[db])):
            exp, act = expected[db].get(table), actual[db].get(table)
            row = {"database": db, "table": table,
                   "rows_expected": exp.rows if exp else None,
                   "rows_actual": act.rows if act else None,
                   "digest_equal": bool(exp and act and exp.sha256 == act.sha256)}
            per_table.append(row)
            if exp is None or act is None:
                mismatches.append({**row, "kind": "missing table" if act is None
                                   else "table not in the manifest"})
            elif exp.rows != act.rows or exp.sha256 != act.sha256:
                mismatches.append({**row, "kind": "rows differ" if exp.rows != act.rows
                                   else "content differs", "sha256_expected": exp.sha256,
                                   "sha256_actual": act.sha256})
    return StateProof(not mismatches and bool(expected), len(actual), len(per_table),
                      sum(r["rows_actual"] or 0 for r in per_table), mismatches, per_table)


def prove_state(layout: StationLayout, manifest: Manifest) -> StateProof:
    return compare_state(expected_state(manifest), current_state(layout))
