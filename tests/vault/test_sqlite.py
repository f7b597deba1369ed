from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from vvtvlib.vault.sqlite import (
    backup_db,
    dump_schema,
    foreign_key_check,
    integrity_check,
    journal_mode,
    snapshot_databases,
    table_digests,
)

from .conftest import make_db


def test_backup_of_a_live_wal_database_is_self_contained(tmp_path: Path) -> None:
    src = tmp_path / "plans.sqlite"
    conn = make_db(src, rows=300)  # left open: rows sit in the -wal file
    assert Path(f"{src}-wal").stat().st_size > 0
    dst = tmp_path / "copy" / "plans.sqlite"
    dst.parent.mkdir()
    backup_db(src, dst)
    conn.close()
    assert not Path(f"{dst}-wal").exists()
    assert journal_mode(dst) == "delete"
    assert integrity_check(dst) == []
    assert table_digests(dst) == table_digests(src)
    assert table_digests(dst)["items"].rows == 300
    # the copy alone, moved elsewhere without any sidecar file, still has every row
    alone = tmp_path / "alone.sqlite"
    os.rename(dst, alone)
    with sqlite3.connect(alone) as c:
        assert c.execute("SELECT count(*) FROM items").fetchone()[0] == 300


def test_table_digest_changes_with_data_not_with_layout(tmp_path: Path) -> None:
    src = tmp_path / "q.sqlite"
    make_db(src).close()
    before = table_digests(src)
    with sqlite3.connect(src) as c:
        c.execute("VACUUM")
    assert table_digests(src) == before
    with sqlite3.connect(src) as c:
        c.execute("UPDATE items SET score = score + 1 WHERE id = 7")
    after = table_digests(src)
    assert after["items"].rows == before["items"].rows
    assert after["items"].sha256 != before["items"].sha256


def test_integrity_check_reports_a_corrupt_file(tmp_path: Path) -> None:
    db = tmp_path / "bad.sqlite"
    make_db(db, rows=2000).close()
    data = bytearray(db.read_bytes())
    for i in range(4096 * 2, len(data), 4096):  # scribble over every page but the header
        data[i + 20:i + 60] = b"\xff" * 40
    db.write_bytes(bytes(data))
    assert integrity_check(db)


def test_snapshot_databases_writes_copies_and_schema(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conns = [make_db(data / f"{n}.sqlite") for n in ("plans", "queue")]
    members = snapshot_databases(data, tmp_path / "staging")
    for c in conns:
        c.close()
    assert members == ["data/plans.sqlite", "data/queue.sqlite", "data/schema.sql"]
    schema = (tmp_path / "staging" / "data" / "schema.sql").read_text()
    assert "-- plans.sqlite" in schema and "CREATE TABLE items" in schema
    assert "CREATE INDEX items_name" in schema
    assert dump_schema({"plans.sqlite": data / "plans.sqlite"}).count("CREATE TABLE") == 1
    assert foreign_key_check(tmp_path / "staging" / "data" / "plans.sqlite") == []
    assert sorted(p.name for p in (tmp_path / "staging" / "data").iterdir()) == [
        "plans.sqlite", "queue.sqlite", "schema.sql"]
