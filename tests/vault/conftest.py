"""A tiny station-like tree, keys and a sealed snapshot, built fresh for each test."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from vvtvlib.vault import (
    ArchiveRecord,
    PublicKey,
    SnapshotPolicy,
    build_manifest,
    file_record,
    generate_keypair,
    seal_snapshot,
    snapshot_databases,
    write_policy_archive,
)


def make_db(path: Path, rows: int = 50) -> sqlite3.Connection:
    """A WAL database whose last writes are still in the -wal file (connection left open)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL, raw BLOB)")
    conn.execute("CREATE INDEX items_name ON items(name)")
    conn.executemany("INSERT INTO items VALUES (?,?,?,?)",
                     [(i, f"item-{i}", i / 3, bytes([i % 256]) * 8) for i in range(rows)])
    return conn


def make_tree(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    for name in ("plans", "queue"):
        make_db(root / "data" / f"{name}.sqlite").close()
    ready = root / "storage" / "ready"
    ready.mkdir(parents=True)
    (ready / "clip_a.mp4").write_bytes(os.urandom(150_000))
    (ready / "clip b é.mp4").write_bytes(os.urandom(40_000))
    (root / "storage" / "cache").mkdir()
    (root / "storage" / "cache" / "junk.tmp").write_bytes(b"never archived")
    hls = root / "broadcast" / "hls"
    hls.mkdir(parents=True)
    (hls / "main.m3u8").write_text("#EXTM3U\n#EXTINF:4.0,\nseg_00001.ts\n")
    (hls / "seg_00001.ts").write_bytes(os.urandom(30_000))
    configs = root / "system" / "configs"
    configs.mkdir(parents=True)
    (configs / "station.toml").write_text('[station]\nid = "lab"\n' * 50)
    (configs / "current.toml").symlink_to("station.toml")
    bindir = root / "system" / "bin"
    bindir.mkdir()
    (bindir / "tool.sh").write_text("#!/bin/sh\necho ok\n")
    os.chmod(bindir / "tool.sh", 0o755)
    os.chmod(configs, 0o750)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "station")


@dataclass
class Keys:
    secret: Path
    public: Path
    pub: PublicKey


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    secret = tmp_path / "keys" / "foundation_ed25519"
    pub = generate_keypair(secret)
    return Keys(secret, secret.with_name(secret.name + ".pub"), pub)


@pytest.fixture
def other_keys(tmp_path: Path) -> Keys:
    secret = tmp_path / "other" / "intruder"
    pub = generate_keypair(secret)
    return Keys(secret, secret.with_name(secret.name + ".pub"), pub)


def write_snapshot(tree: Path, folder: Path, keys: Keys, *, generation: int = 1,
                   ) -> dict[str, ArchiveRecord]:
    """The ritual's sequence in miniature: archives, an artifact, manifest, signature."""
    folder.mkdir(parents=True)
    staging = folder.parent / f".{folder.name}.db-staging"
    snapshot_databases(tree / "data", staging)
    policy = SnapshotPolicy()
    records = {
        "snapshot_db.tar.zst": write_policy_archive(folder / "snapshot_db.tar.zst", staging,
                                                    ["data"], policy),
        "snapshot_system.tar.zst": write_policy_archive(folder / "snapshot_system.tar.zst",
                                                        tree, ["system"], policy),
        "snapshot_data.tar.zst": write_policy_archive(
            folder / "snapshot_data.tar.zst", tree, ["storage/ready", "broadcast/hls"], policy),
    }
    (folder / "final_frame.json").write_text('{"item_id": "a", "offset_s": 1.5}\n')
    manifest = build_manifest(
        station_id="lab", stamp="2026-01-01_0000Z", generation=generation,
        ancestor_signature=None, archives={k: r.to_manifest() for k, r in records.items()},
        artifacts={"final_frame.json": file_record(folder / "final_frame.json")})
    seal_snapshot(folder, manifest, keys.secret)
    return records


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """An existing restore target (a file and a database that must survive a refused
    restore), with an ``outside`` folder next to it that nothing may ever reach."""
    root = tmp_path / "target"
    (root / "storage" / "ready").mkdir(parents=True)
    (root / "storage" / "ready" / "existing.mp4").write_bytes(b"precious")
    (root / "data").mkdir()
    (root / "data" / "plans.sqlite").write_bytes(b"db")
    (tmp_path / "outside").mkdir()
    return root
