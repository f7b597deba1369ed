"""A station tree on disk without processes, for the snapshot and sealing tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.minisign import generate_keypair


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[StationLayout, sqlite3.Connection]]:
    """Databases in WAL mode with a connection still open (so a WAL is pending), media,
    HLS with one segment in flight, cache/tmp/logs/run that must never be archived."""
    layout = StationLayout.at(tmp_path / "vvtv")
    for d in layout.skeleton():
        d.mkdir(parents=True, exist_ok=True)
    writer = None
    for name in ("plans", "queue"):
        conn = sqlite3.connect(layout.db(name), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t(v) VALUES(?)", [(f"row{i}",) for i in range(50)])
        if name == "plans":
            conn.execute("CREATE TABLE items(item_id TEXT PRIMARY KEY, path TEXT)")
            conn.execute("INSERT INTO items VALUES('item-0001', "
                         "'storage/ready/mezzanine/item-0001.mp4')")
            writer = conn
        else:
            conn.close()
    (layout.ready / "mezzanine").mkdir()
    (layout.ready / "mezzanine" / "item-0001.mp4").write_bytes(b"m" * 5000)
    (layout.ready / "mezzanine" / "item-0002.mp4").write_bytes(b"n" * 3000)
    (layout.ready / "filler").mkdir()
    (layout.ready / "filler" / "big.bin").write_bytes(b"f" * 50000)
    (layout.cache / "c.bin").write_bytes(b"cache")
    (layout.tmp / "t.bin").write_bytes(b"tmp")
    (layout.hls_dir / "seg_000001.ts").write_bytes(b"s1" * 100)
    (layout.hls_dir / "seg_000002.ts").write_bytes(b"s2" * 100)
    (layout.hls_dir / "seg_000003.ts").write_bytes(b"in flight")
    (layout.hls_dir / "main.m3u8.tmp").write_text("#EXTM3U\n")
    (layout.hls_dir / "main.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n"
        "#EXTINF:2.0,\nseg_000001.ts\n#EXTINF:2.0,\nseg_000002.ts\n")
    (layout.broadcast / "playout.jsonl").write_text(
        '{"segment": "seg_000001.ts", "item_id": "item-0001", "offset_s": 0, '
        '"slot_id": "s1", "plan_id": "p1", "duration_s": 2.0}\n{"segment": "seg_0000')
    (layout.configs / "station.toml").write_text(tomli_w.dumps(
        {"station": {"id": "lab-test", "profile": "embedded", "seed": 7}}))
    (layout.configs / "business_logic.toml").write_text(tomli_w.dumps({"selection": {"seed": 7}}))
    (layout.bin / "selfcheck.sh").write_text("#!/bin/sh\n")
    (layout.bin / "selfcheck.sh").chmod(0o755)
    (layout.logs / "supervisor.log").write_text("log\n")
    (layout.run / "supervisor.json").write_text("{}")
    generate_keypair(layout.foundation_key, "foundation")
    assert writer is not None
    yield layout, writer
    writer.close()
