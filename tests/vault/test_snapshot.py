from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard as zstd

from vvtvlib.vault import (
    SnapshotPolicy,
    load_public_key,
    restore_archive,
    restore_snapshot,
    root_hash,
    scan,
    sha256sums_text,
    signature_line,
    sums_for_entries,
    verify_file,
    verify_snapshot,
    write_archive,
)
from vvtvlib.vault.manifest import FileEntry
from vvtvlib.vault.snapshot import ArchiveProgress, write_policy_archive
from vvtvlib.vault.sqlite import integrity_check, journal_mode

from .conftest import Keys, write_snapshot


def _members(path: Path) -> list[tarfile.TarInfo]:
    with open(path, "rb") as fh, \
            zstd.ZstdDecompressor().stream_reader(fh, read_across_frames=True) as raw, \
            tarfile.open(fileobj=raw, mode="r|") as tf:
        return list(tf)


def test_archive_is_pax_sorted_numeric_and_matches_its_record(tree: Path, tmp_path: Path) -> None:
    events: list[ArchiveProgress] = []
    rec = write_archive(tmp_path / "snapshot_system.tar.zst", tree, ["system"], level=3,
                        observer=events.append)
    members = _members(tmp_path / "snapshot_system.tar.zst")
    names = [m.name for m in members]
    assert names == sorted(names) == [e.path for e in rec.files]
    assert all(m.uname == "" and m.gname == "" for m in members)
    st = os.stat(tree / "system/bin/tool.sh")
    tool = next(m for m in members if m.name == "system/bin/tool.sh")
    assert tool.mtime == int(st.st_mtime) and tool.mode == 0o755
    assert rec.files == scan(tree, ["system"])
    assert rec.root_sha256 == root_hash(scan(tree, ["system"]))
    assert rec.size == (tmp_path / "snapshot_system.tar.zst").stat().st_size
    assert events[-1].files_done == len(rec.files) and events[-1].bytes_done == rec.raw_bytes
    # standard tools read it: zstd checks the frame checksum, GNU tar lists it
    assert subprocess.run(["zstd", "-tq", str(tmp_path / "snapshot_system.tar.zst")],
                          check=False).returncode == 0
    listing = subprocess.run(["tar", "--zstd", "-tvf", str(tmp_path / "snapshot_system.tar.zst"),
                              "--numeric-owner"], capture_output=True, text=True, check=True)
    assert "system/configs/current.toml -> station.toml" in listing.stdout


def test_archive_bytes_are_deterministic(tree: Path, tmp_path: Path) -> None:
    a = write_archive(tmp_path / "a.tar.zst", tree, ["storage/ready"], level=3, threads=1)
    b = write_archive(tmp_path / "b.tar.zst", tree, ["storage/ready"], level=3, threads=1)
    assert a.sha256 == b.sha256 and a.root_sha256 == b.root_sha256


def test_policy_levels_and_ratio(tree: Path, tmp_path: Path) -> None:
    policy = SnapshotPolicy()
    assert policy.for_archive("snapshot_data.tar.zst").level == 1
    assert policy.for_archive("snapshot_db.tar.zst").level == 1
    assert policy.thread_count("snapshot_db.tar.zst") == (os.cpu_count() or 1)
    rec = write_policy_archive(tmp_path / "snapshot_system.tar.zst", tree, ["system"], policy)
    assert rec.level == 1 and rec.ratio < 0.5  # text compresses even at level 1
    media = write_policy_archive(tmp_path / "snapshot_data.tar.zst", tree, ["storage/ready"],
                                 policy)
    assert media.level == 1 and 0.99 < media.ratio < 1.02  # random media does not


def test_policy_leaves_out_cache_tmp_and_runtime_files(tree: Path, tmp_path: Path) -> None:
    import socket
    run = tree / "system" / "run"
    run.mkdir()
    (run / "supervisor.pid").write_text("123")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(run / "control.sock"))  # a socket cannot be archived at all
    try:
        from vvtvlib.core.errors import UnsafeArchive
        with pytest.raises(UnsafeArchive, match="control.sock is not a regular file"):
            write_archive(tmp_path / "raw.tar.zst", tree, ["system"])
        rec = write_policy_archive(tmp_path / "snapshot_system.tar.zst", tree, ["system"])
        data = write_policy_archive(tmp_path / "snapshot_data.tar.zst", tree, ["storage"])
    finally:
        sock.close()
    assert not any(e.path.startswith("system/run") for e in rec.files)
    assert not any(e.path.startswith("storage/cache") for e in data.files)
    assert not list(tmp_path.glob(".raw.tar.zst*"))


def test_roundtrip_restores_the_same_tree(tree: Path, tmp_path: Path) -> None:
    rec = write_archive(tmp_path / "snapshot_data.tar.zst", tree,
                        ["storage/ready", "broadcast/hls", "system"], level=1)
    target = tmp_path / "target"
    result = restore_archive(tmp_path / "snapshot_data.tar.zst", rec, target)
    assert result.files == len(rec.files)
    assert sorted(result.roots) == ["broadcast/hls", "storage/ready", "system"]
    assert scan(target, result.roots) == rec.files
    assert not (target / "storage" / "cache").exists()
    assert [p.name for p in target.iterdir() if p.name.startswith(".vvtv")] == []
    assert os.stat(target / "system/configs").st_mode & 0o777 == 0o750


def test_restore_replaces_roots_and_keeps_other_trees(tree: Path, tmp_path: Path) -> None:
    rec = write_archive(tmp_path / "s.tar.zst", tree, ["storage/ready"], level=1)
    target = tmp_path / "target"
    (target / "storage" / "ready").mkdir(parents=True)
    (target / "storage" / "ready" / "stale.mp4").write_bytes(b"old")
    (target / "storage" / "cache").mkdir()
    (target / "storage" / "cache" / "keep.tmp").write_bytes(b"keep")
    result = restore_archive(tmp_path / "s.tar.zst", rec, target)
    assert result.replaced == ["storage/ready"]
    assert not (target / "storage" / "ready" / "stale.mp4").exists()
    assert (target / "storage" / "cache" / "keep.tmp").read_bytes() == b"keep"


def test_sealed_snapshot_verifies_and_restores(tree: Path, tmp_path: Path, keys: Keys) -> None:
    folder = tmp_path / "vault" / "snapshots" / "2026-01-01_0000Z"
    records = write_snapshot(tree, folder, keys)
    verified = verify_snapshot(folder, [keys.pub])
    assert verified.manifest.station_id == "lab"
    assert verified.signature.fields["generation"] == "1"
    assert {c.name for c in verified.checked} == {
        "last_manifest.json", "snapshot_db.tar.zst", "snapshot_system.tar.zst",
        "snapshot_data.tar.zst", "final_frame.json"}
    sums = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=folder,
                          capture_output=True, text=True, check=False)
    assert sums.returncode == 0, sums.stdout
    # the signature is an ordinary minisign signature over the manifest
    verify_file(load_public_key(keys.public), folder / "last_manifest.json",
                folder / "signature.sig")
    assert signature_line(folder / "signature.sig").startswith("RU")
    target = tmp_path / "revived"
    results = restore_snapshot(verified, target)
    assert sum(r.files for r in results) == sum(len(r.files) for r in records.values())
    db = target / "data" / "plans.sqlite"
    assert integrity_check(db) == [] and journal_mode(db) == "delete"
    assert not Path(f"{db}-wal").exists()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM items").fetchone()[0] == 50
    assert (target / "data" / "schema.sql").read_text().startswith("-- plans.sqlite")
    assert (target / "storage/ready/clip b é.mp4").read_bytes() == \
        (tree / "storage/ready/clip b é.mp4").read_bytes()
    assert os.readlink(target / "system/configs/current.toml") == "station.toml"
    # restored trees check with coreutils against the manifest's entries
    files = [FileEntry.from_dict(f.model_dump())
             for a in verified.manifest.archives.values() for f in a.files]
    (target / "SHA256SUMS").write_text(sha256sums_text(sums_for_entries(files)))
    sums = subprocess.run(["sha256sum", "-c", "--strict", "--quiet", "SHA256SUMS"], cwd=target,
                          capture_output=True, text=True, check=False)
    assert sums.returncode == 0, sums.stdout


def test_a_file_changing_while_archived_is_caught(tree: Path, tmp_path: Path) -> None:
    grow = tree / "storage" / "ready" / "clip_a.mp4"

    def observer(p: ArchiveProgress) -> None:
        if p.path == "storage/ready/clip b é.mp4":
            with open(grow, "ab") as fh:  # the next file grows after it was listed
                fh.write(b"more")

    from vvtvlib.core.errors import IntegrityError
    with pytest.raises(IntegrityError, match="clip_a.mp4 changed while it was archived"):
        write_archive(tmp_path / "x.tar.zst", tree, ["storage/ready"], observer=observer)
    assert not (tmp_path / "x.tar.zst").exists()
    assert not list(tmp_path.glob(".x.tar.zst*"))
    shutil.rmtree(tree)
