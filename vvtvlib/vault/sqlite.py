"""Consistent SQLite copies for snapshots, schema dumps and state digests.

A live database file is never copied with a file copy: the WAL is checkpointed and
truncated, then the online backup API copies a consistent image, and the copy is switched to
``journal_mode=DELETE`` so that it opens with no ``-wal`` file beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import IntegrityError

from .schema import TableDigest

_BUSY_MS = 10_000


def _connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    path = Path(path)
    if not path.exists():
        raise IntegrityError(f"database {path} does not exist", path=path)
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, timeout=_BUSY_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
    return conn


def checkpoint_truncate(db: str | Path) -> tuple[int, int, int]:
    """``PRAGMA wal_checkpoint(TRUNCATE)``: (busy, wal frames, frames checkpointed)."""
    with closing(_connect(db)) as conn:
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    busy, log, ckpt = (int(x) for x in row)
    if busy:
        raise IntegrityError(f"{db}: WAL checkpoint could not complete (a writer is active)",
                             path=db)
    return busy, log, ckpt


def backup_db(src: str | Path, dst: str | Path, *, check: str = "quick",
              durable: bool = True) -> Path:
    """A consistent, self-contained copy of ``src`` at ``dst`` (written atomically).

    ``check``: ``quick`` (``PRAGMA quick_check``: every page and record, not index order;
    the ritual's pre-checks run the full check on the source), ``full`` or ``none``.
    ``durable=False`` skips the fsync for copies that only live until they are archived."""
    src, dst = Path(src), Path(dst)
    checkpoint_truncate(src)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    for leftover in (tmp, Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    with closing(_connect(src)) as source, closing(sqlite3.connect(tmp)) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
        copy.commit()
    problems = [] if check == "none" else integrity_check(tmp, quick=check == "quick")
    if problems:
        tmp.unlink(missing_ok=True)
        raise IntegrityError(f"copy of {src} fails {check} check: {problems[0]}", path=src)
    if durable:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    os.chmod(tmp, os.stat(src).st_mode & 0o777)
    os.replace(tmp, dst)
    return dst


def integrity_check(db: str | Path, *, quick: bool = False) -> list[str]:
    """Problems reported by ``PRAGMA integrity_check`` (or ``quick_check``); empty when the
    database is sound."""
    pragma = "quick_check" if quick else "integrity_check"
    try:
        with closing(_connect(db, readonly=True)) as conn:
            rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
    except sqlite3.DatabaseError as exc:
        return [f"not a usable database: {exc}"]
    return [] if rows == ["ok"] else rows


def foreign_key_check(db: str | Path) -> list[dict[str, Any]]:
    with closing(_connect(db, readonly=True)) as conn:
        rows = conn.execute("PRAGMA foreign_key_check").fetchall()
    return [{"table": r[0], "rowid": r[1], "parent": r[2], "fkid": r[3]} for r in rows]


def journal_mode(db: str | Path) -> str:
    with closing(_connect(db, readonly=True)) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


def _schema_rows(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
        "AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'table' THEN 0 "
        "WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, name").fetchall()


def dump_schema(dbs: Mapping[str, str | Path] | Iterable[str | Path]) -> str:
    """``schema.sql``: each database's CREATE statements under a ``-- <name>`` header."""
    items = (dbs.items() if isinstance(dbs, Mapping)
             else ((Path(p).name, p) for p in dbs))
    out: list[str] = []
    for name, path in sorted(items, key=lambda kv: str(kv[0])):
        out.append(f"-- {name}")
        with closing(_connect(path, readonly=True)) as conn:
            out.extend(f"{sql};" for _type, _name, sql in _schema_rows(conn))
        out.append("")
    return "\n".join(out)


def _cell(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"blob": value.hex()}
    if isinstance(value, float):
        return {"real": repr(value)}
    return value


def table_digests(db: str | Path) -> dict[str, TableDigest]:
    """Per table: row count and the sha256 of its rows in a total order (every column,
    ascending), so the digest depends on the data, not on page layout or rowids. The
    records are the manifest's own (``databases.<db>.tables``)."""
    out: dict[str, TableDigest] = {}
    with closing(_connect(db, readonly=True)) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            ncols = len(conn.execute(f"SELECT * FROM {quoted} LIMIT 0").description)
            order = ", ".join(str(i) for i in range(1, ncols + 1))
            h = hashlib.sha256()
            rows = 0
            for row in conn.execute(f"SELECT * FROM {quoted} ORDER BY {order}"):
                h.update(json.dumps([_cell(v) for v in row], ensure_ascii=False,
                                    separators=(",", ":")).encode() + b"\n")
                rows += 1
            out[table] = TableDigest(rows=rows, sha256=h.hexdigest())
    return out


def snapshot_databases(data_dir: str | Path, staging_dir: str | Path,
                       *, member_dir: str = "data") -> list[str]:
    """Consistent copies of every ``data_dir/*.sqlite`` plus ``schema.sql`` under
    ``staging_dir/<member_dir>/``; returns the member paths (``data/<name>.sqlite``, ...).
    The copies are not fsynced: they are staging for the archive, which is."""
    data_dir, staging_dir = Path(data_dir), Path(staging_dir)
    dbs = sorted(data_dir.glob("*.sqlite"))
    if not dbs:
        raise IntegrityError(f"{data_dir}: no *.sqlite databases to snapshot", path=data_dir)
    out_dir = staging_dir / member_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, os.stat(data_dir).st_mode & 0o777)
    # sqlite3 releases the GIL while it copies pages: two databases at a time use two cores
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        list(pool.map(lambda db: backup_db(db, out_dir / db.name, durable=False), dbs))
    members = [f"{member_dir}/{db.name}" for db in dbs]
    schema = out_dir / "schema.sql"
    schema.write_text(dump_schema({p.name: out_dir / p.name for p in dbs}), encoding="utf-8")
    members.append(f"{member_dir}/schema.sql")
    return sorted(members)
