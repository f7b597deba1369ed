"""Snapshots for the content gate: the synthetic station plus chosen extra files in
``storage/ready``, signed with the vault, and the clips those files are made from."""

from __future__ import annotations

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
    write_archive,
)

from .synthetic import _station_tree

SIZE = "160x90"


@dataclass(frozen=True)
class GateSnapshot:
    folder: Path
    pubkey: Path
    station: Path


def lavfi_clip(out: Path, sources: list[tuple[str, int]], fps: int = 2) -> Path:
    """An H.264 clip of the given (lavfi source, seconds) parts, one after the other."""
    args = ["-y"]
    for src, seconds in sources:
        args += ["-f", "lavfi", "-i", f"{src}=size={SIZE}:rate={fps}:duration={seconds}"]
    n = len(sources)
    graph = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    args += ["-filter_complex", graph, "-map", "[v]", "-an", "-c:v", "libx264", "-preset",
             "ultrafast", "-g", str(fps * 2), "-pix_fmt", "yuv420p", "-threads", "1",
             "-f", "mp4", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(args, what="gate test clip")
    return out


def still_phash(source: str, work: Path) -> str:
    """The perceptual hash of the first frame of a lavfi source (what a detector flagged)."""
    png = work / f"{source}.png"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", f"{source}=size={SIZE}:rate=2", "-frames:v", "1",
                str(png)], what="flagged still")
    return phash(png)


def frame_phash(clip: Path, offset_s: float, work: Path) -> str:
    return phash(extract_frame(clip, offset_s, work / f"{clip.name}-{offset_s:g}.jpg"))


def make_gate_snapshot(base: Path, extra: dict[str, Path | bytes]) -> GateSnapshot:
    """Sign a snapshot of the synthetic station with ``extra`` files (path relative to
    ``storage/ready`` -> a file to copy or bytes to write) in its data archive."""
    root, folder = base / "station", base / "snapshot"
    _station_tree(root)
    for rel, content in extra.items():
        dest = root / "storage" / "ready" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content if isinstance(content, bytes) else content.read_bytes())
    folder.mkdir(parents=True)
    secret = base / "keys" / "foundation_ed25519"
    generate_keypair(secret, comment="gate test key")
    staging = base / "dbstage"
    snapshot_databases(root / "data", staging)
    db = write_archive(folder / "snapshot_db.tar.zst", staging, ["data"], level=1)
    system = write_archive(folder / "snapshot_system.tar.zst", root, ["system"], level=1)
    data = write_archive(folder / "snapshot_data.tar.zst", root,
                         ["storage/ready", "broadcast/hls"], level=1)
    frame = extract_frame(root / "storage/ready/mezzanine/item-0001.mp4", 2.0,
                          folder / "final_frame.jpg")
    manifest = build_manifest(
        station_id="synthetic", stamp="2026-01-01_0000Z", generation=3,
        ancestor_signature=None, profile="embedded", dry_run=False,
        versions={"ffmpeg": "n9.0.2", "sqlite": sqlite3.sqlite_version},
        playout={"slot_id": "slot-1", "plan_id": "plan-1", "item_id": "item-0001",
                 "offset_s": 2.0},
        final_frame={"file": "final_frame.jpg", "sha256": file_record(frame).sha256,
                     "phash": phash(frame)},
        archives={r.name: r.to_manifest() for r in (db, system, data)},
        artifacts={"final_frame.jpg": file_record(frame)})
    seal_snapshot(folder, manifest, secret)
    return GateSnapshot(folder, secret.with_name(secret.name + ".pub"), root)
