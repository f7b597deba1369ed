"""A small signed snapshot made directly with the vault (no live station), for the refusal
paths that stop before the station is started: verify, trust, rollback, content gate."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from vvtvlib.media.compare import phash
from vvtvlib.media.ffmpeg import extract_frame, run_ffmpeg
from vvtvlib.vault import (
    build_manifest,
    file_record,
    generate_keypair,
    seal_snapshot,
    snapshot_databases,
    table_digests,
    write_archive,
)


@dataclass(frozen=True)
class Synthetic:
    folder: Path
    secret: Path
    pubkey: Path
    clip: Path  # relative path inside the station
    clip_sha256: str


def _station_tree(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    conn = sqlite3.connect(root / "data" / "plans.sqlite")
    conn.executescript("PRAGMA journal_mode=WAL;"
                       "CREATE TABLE items(item_id TEXT PRIMARY KEY, title TEXT NOT NULL);"
                       "CREATE TABLE plans(plan_id TEXT PRIMARY KEY, item_id TEXT NOT NULL "
                       "REFERENCES items(item_id));"
                       "CREATE INDEX plans_item ON plans(item_id);")
    conn.executemany("INSERT INTO items VALUES(?,?)", [(f"item-{i:04d}", f"t{i}")
                                                        for i in range(1, 4)])
    conn.executemany("INSERT INTO plans VALUES(?,?)", [(f"plan-{i}", f"item-{i:04d}")
                                                        for i in range(1, 4)])
    conn.commit()
    conn.close()
    (root / "system" / "configs").mkdir(parents=True)
    (root / "system" / "configs" / "station.toml").write_text('[station]\nid = "synthetic"\n')
    ready = root / "storage" / "ready" / "mezzanine"
    ready.mkdir(parents=True)
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10", "-t", "4", "-an",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                str(ready / "item-0001.mp4")], what="synthetic clip")
    (root / "broadcast" / "hls").mkdir(parents=True)
    (root / "broadcast" / "hls" / "main.m3u8").write_text("#EXTM3U\n#EXT-X-ENDLIST\n")


def make_synthetic(base: Path, *, generation: int = 3) -> Synthetic:
    root, folder = base / "station", base / "snapshot"
    _station_tree(root)
    folder.mkdir(parents=True)
    secret = base / "keys" / "foundation_ed25519"
    generate_keypair(secret, comment="synthetic foundation key")
    staging = base / "dbstage"
    snapshot_databases(root / "data", staging)
    db = write_archive(folder / "snapshot_db.tar.zst", staging, ["data"], level=3)
    system = write_archive(folder / "snapshot_system.tar.zst", root, ["system"], level=3)
    data = write_archive(folder / "snapshot_data.tar.zst", root,
                         ["storage/ready", "broadcast/hls"], level=1)
    clip = "storage/ready/mezzanine/item-0001.mp4"
    frame = extract_frame(root / clip, 2.0, folder / "final_frame.jpg")
    (folder / "final_frame.json").write_text(json.dumps({"item_id": "item-0001",
                                                         "offset_s": 2.0}))
    manifest = build_manifest(
        station_id="synthetic", stamp="2026-01-01_0000Z", generation=generation,
        ancestor_signature=None, profile="embedded", dry_run=False,
        versions={"ffmpeg": "n9.0.2", "sqlite": sqlite3.sqlite_version},
        playout={"slot_id": "slot-1", "plan_id": "plan-1", "item_id": "item-0001",
                 "offset_s": 2.0},
        final_frame={"file": "final_frame.jpg", "sha256": file_record(frame).sha256,
                     "phash": phash(frame)},
        databases={"plans.sqlite": {"tables": table_digests(staging / "data" / "plans.sqlite")}},
        archives={r.name: r.to_manifest() for r in (db, system, data)},
        artifacts={n: file_record(folder / n) for n in ("final_frame.jpg", "final_frame.json")})
    seal_snapshot(folder, manifest, secret)
    entry = next(f for f in data.files if f.path == clip)
    return Synthetic(folder, secret, secret.with_name(secret.name + ".pub"), Path(clip),
                     entry.sha256 or "")
