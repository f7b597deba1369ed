"""Staging, the three archives, the signed manifest, verification and lineage, on a station
tree with a live WAL (no processes needed)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.plugins.system import need_tool
from vvtvlib.core.errors import IntegrityError, SignatureError
from vvtvlib.ritual import archives, sealing
from vvtvlib.ritual.config import Snapshot
from vvtvlib.ritual.telemetry import ToolVersions
from vvtvlib.vault.schema import build_manifest

TOOLS = ToolVersions(vvtvlib="0.1.0", python="3.11", ffmpeg="x", nginx=None, sqlite="3",
                     zstandard="0.23", platform="Linux", vvtvlib_commit=None)
VERSIONS = {"vvtvlib": "0.1.0", "python": "3.11", "ffmpeg": "x", "nginx": None, "sqlite": "3"}


def members(rec) -> set[str]:
    return {e.path for e in rec.files if e.type == "file"}


def test_archives_hold_exactly_the_frozen_view(tree, tmp_path):
    layout, writer = tree
    assert archives.wal_sizes(layout.data)["plans.sqlite"] > 0  # a WAL is pending
    folder = tmp_path / "snap"
    folder.mkdir()
    result = archives.write_snapshots(layout, folder, Snapshot(), TOOLS)
    db = members(result.archives[archives.DB_ARCHIVE])
    assert db == {"data/plans.sqlite", "data/queue.sqlite", "data/schema.sql"}
    assert not any(m.endswith("-wal") for m in db)
    assert result.wal_after_checkpoint == {"plans.sqlite": 0, "queue.sqlite": 0}
    system = members(result.archives[archives.SYSTEM_ARCHIVE])
    assert {"system/configs/station.toml", "system/bin/selfcheck.sh",
            "system/versions.json"} <= system
    assert not any(m.startswith(("system/logs", "system/run")) for m in system)
    data = members(result.archives[archives.DATA_ARCHIVE])
    assert "storage/ready/filler/big.bin" in data
    assert {"broadcast/hls/main.m3u8", "broadcast/hls/seg_000001.ts",
            "broadcast/playout.jsonl"} <= data
    # never cache/tmp, never a segment no playlist names, never a temp file
    assert not any(m.startswith(("storage/cache", "storage/tmp")) for m in data)
    assert "broadcast/hls/seg_000003.ts" not in data
    assert "broadcast/hls/main.m3u8.tmp" not in data
    assert result.databases["plans.sqlite"].tables["t"].rows == 50
    assert not (folder / archives.STAGE_DIR).exists()
    # the playout log is archived up to its last complete line
    entry = next(e for e in result.archives[archives.DATA_ARCHIVE].files
                 if e.path == "broadcast/playout.jsonl")
    assert entry.size == len((layout.broadcast / "playout.jsonl").read_bytes().split(b"\n")[0]) + 1


def test_dry_run_sample_is_small(tree, tmp_path):
    layout, _ = tree
    folder = tmp_path / "snap"
    folder.mkdir()
    result = archives.write_snapshots(
        layout, folder, Snapshot(dry_run_media_files=2), TOOLS, dry_run=True,
        sample_clips=["storage/ready/mezzanine/item-0001.mp4"])
    data = members(result.archives[archives.DATA_ARCHIVE])
    assert data == {"storage/ready/mezzanine/item-0001.mp4",
                    "storage/ready/mezzanine/item-0002.mp4"}
    system = members(result.archives[archives.SYSTEM_ARCHIVE])
    assert not any(m.startswith("system/bin") for m in system)


def _seal(layout, folder, generation_line):
    result = archives.write_snapshots(layout, folder, Snapshot(), TOOLS)
    (folder / "final_frame.jpg").write_bytes(b"jpeg")
    manifest = build_manifest(
        station_id="lab-test", stamp=folder.name, generation=generation_line.generation,
        ancestor_signature=generation_line.ancestor_signature, versions=VERSIONS,
        final_frame={"file": "final_frame.jpg", "sha256": "0" * 64, "phash": None},
        databases=result.databases,
        archives={n: r.to_manifest() for n, r in result.archives.items()},
        artifacts={"final_frame.jpg": {"sha256": __import__("hashlib").sha256(b"jpeg")
                                       .hexdigest(), "size": 4}})
    sealing.seal(layout, folder, manifest)
    return manifest


def test_sealed_folder_verifies_and_lineage_advances(tree):
    layout, _ = tree
    first = sealing.lineage(layout)
    assert (first.generation, first.ancestor_signature) == (1, None)
    folder = layout.snapshots / "2026-01-01_1200Z"
    folder.mkdir()
    manifest = _seal(layout, folder, first)
    assert sealing.verify(layout, folder).generation == 1
    # committed but not yet recorded in history: the next generation is still 2
    second = sealing.lineage(layout)
    assert second.generation == 2 and second.ancestor_signature
    sealing.publish(layout, folder, manifest)
    assert json.loads((layout.manifests / "last_manifest.json").read_text())["generation"] == 1
    assert (layout.history / "generation-0001.json").exists()
    assert sealing.lineage(layout) == sealing.Lineage(
        2, second.ancestor_signature, "history/generation-0001.json")


def test_standard_minisign_accepts_the_signature(tree):
    minisign = need_tool("minisign")
    layout, _ = tree
    folder = layout.snapshots / "s"
    folder.mkdir()
    _seal(layout, folder, sealing.lineage(layout))
    proc = subprocess.run([minisign, "-V", "-p", str(layout.foundation_pub), "-m",
                           str(folder / "last_manifest.json"), "-x",
                           str(folder / "signature.sig")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_tampering_is_detected(tree):
    layout, _ = tree
    folder = layout.snapshots / "s"
    folder.mkdir()
    _seal(layout, folder, sealing.lineage(layout))
    data = folder / archives.DATA_ARCHIVE
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        sealing.verify(layout, folder)
    manifest = folder / "last_manifest.json"
    manifest.write_text(manifest.read_text().replace('"lab-test"', '"lab-evil"'))
    with pytest.raises(SignatureError):
        sealing.verify(layout, folder)


def test_trust_anchor_is_the_pinned_key(tree, tmp_path):
    from vvtvlib.vault.minisign import generate_keypair

    layout, _ = tree
    folder = layout.snapshots / "s"
    folder.mkdir()
    _seal(layout, folder, sealing.lineage(layout))
    other = generate_keypair(tmp_path / "other_ed25519")
    layout.trusted_keys.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "other_ed25519.pub", layout.trusted_keys / "other.pub")
    with pytest.raises(SignatureError, match="unknown key"):
        sealing.verify(layout, folder)
    assert other.id_hex
