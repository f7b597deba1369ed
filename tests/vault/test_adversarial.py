"""The adversarial corpus, built at run time: each hostile archive or snapshot must fail with
a message naming the file and the reason, and leave the target exactly as it was."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard as zstd

from vvtvlib.core.errors import IntegrityError, SignatureError, UnsafeArchive
from vvtvlib.vault import (
    restore_archive,
    restore_archives,
    sign_file,
    verify_snapshot,
    write_archive,
)
from vvtvlib.vault.restore import DEFAULT_MAX_RATIO

from .conftest import Keys, write_snapshot

Member = tuple[tarfile.TarInfo, bytes]


def member(name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, mode: int = 0o644,
           link: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = 1_700_000_000
    return info, data


def listing(members: list[Member]) -> list[dict[str, Any]]:
    out = []
    for info, data in members:
        kind = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink"}.get(info.type, "file")
        digest = (hashlib.sha256(info.linkname.encode()).hexdigest() if kind == "symlink"
                  else None if kind == "dir" else hashlib.sha256(data).hexdigest())
        entry = {"path": info.name, "type": kind, "mode": f"{info.mode & 0o7777:04o}",
                 "size": len(info.linkname.encode()) if kind == "symlink" else len(data),
                 "sha256": digest}
        if kind == "symlink":
            entry["target"] = info.linkname
        out.append(entry)
    return out


def craft(path: Path, members: list[Member], files: list[dict[str, Any]] | None = None,
          *, fmt: int = tarfile.PAX_FORMAT, encoding: str = "utf-8") -> dict[str, Any]:
    """A tar.zst with exactly these members and a record that matches its bytes (as a
    compromised writer would sign it), listing ``files`` (default: the members)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding=encoding) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    path.write_bytes(zstd.ZstdCompressor(write_checksum=True).compress(buf.getvalue()))
    return record_for(path, listing(members) if files is None else files)


def record_for(path: Path, files: list[dict[str, Any]]) -> dict[str, Any]:
    raw = path.read_bytes()
    return {"sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw), "tree": "evil",
            "root_sha256": "0" * 64, "files": files, "roots": ["storage"]}


def fingerprint(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            body = (os.readlink(p) if p.is_symlink() else
                    hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, body)
    return out


BASE = [member("storage", kind=tarfile.DIRTYPE, mode=0o755),
        member("storage/ready", kind=tarfile.DIRTYPE, mode=0o755),
        member("storage/ready/a.mp4", b"A" * 1000)]


def _edit_listing(fn: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
    files = listing(BASE)
    fn(files)
    return files


CASES: dict[str, tuple[list[Member], list[dict[str, Any]] | None, type, str]] = {
    "dotdot": (BASE + [member("storage/../../outside/evil.txt", b"x")], None,
               UnsafeArchive, "contains '..'"),
    "absolute": (BASE + [member("/tmp/vvtv-evil.txt", b"x")], None, UnsafeArchive, "absolute"),
    "symlink-escape": (BASE + [member("storage/ready/out", kind=tarfile.SYMTYPE,
                                      link="../../../outside")], None,
                       UnsafeArchive, "symlink leaving the tree"),
    "symlinked-parent": (BASE + [member("storage/ready/sub", kind=tarfile.SYMTYPE, link="."),
                                 member("storage/ready/sub/x.mp4", b"through")], None,
                         UnsafeArchive, "goes through the symlink storage/ready/sub"),
    "symlinked-parent-absolute": (BASE + [member("storage/ready/sub", kind=tarfile.SYMTYPE,
                                                 link="/tmp"),
                                          member("storage/ready/sub/x.mp4", b"through")], None,
                                  UnsafeArchive, "symlink leaving the tree"),
    "hardlink": (BASE + [member("storage/ready/h", kind=tarfile.LNKTYPE,
                                link="storage/ready/a.mp4")], None, UnsafeArchive, "hard link"),
    "chardev": (BASE + [member("storage/ready/null", kind=tarfile.CHRTYPE)], None,
                UnsafeArchive, "is a device"),
    "blockdev": (BASE + [member("storage/ready/sda", kind=tarfile.BLKTYPE)], None,
                 UnsafeArchive, "is a device"),
    "fifo": (BASE + [member("storage/ready/pipe", kind=tarfile.FIFOTYPE)], None,
             UnsafeArchive, "FIFO"),
    "setuid": (BASE + [member("storage/ready/su", b"#!/bin/sh\n", mode=0o4755)], None,
               UnsafeArchive, "setuid/setgid"),
    "setgid-dir": (BASE + [member("storage/g", kind=tarfile.DIRTYPE, mode=0o2755)], None,
                   UnsafeArchive, "setuid/setgid"),
    "duplicate": (BASE + [member("storage/ready/a.mp4", b"B" * 1000)], listing(BASE),
                  UnsafeArchive, "appears twice"),
    "unlisted": (BASE + [member("storage/ready/extra.mp4", b"extra")], listing(BASE),
                 UnsafeArchive, "extra.mp4 is not listed"),
    "missing": (BASE, _edit_listing(lambda f: f.append(
        {"path": "storage/ready/gone.mp4", "type": "file", "mode": "0644", "size": 3,
         "sha256": "0" * 64})), IntegrityError, "gone.mp4 listed in the manifest is missing"),
    "content-mismatch": (BASE, _edit_listing(lambda f: f[2].update(sha256="1" * 64)),
                         IntegrityError, "member storage/ready/a.mp4 has sha256 [0-9a-f]{64}, "
                         "the manifest says 1111"),
    "size-mismatch": (BASE, _edit_listing(lambda f: f[2].update(size=999)), IntegrityError,
                      "a.mp4 is 1000 bytes, the manifest says 999"),
    "type-mismatch": (BASE, _edit_listing(lambda f: f[2].update(type="dir")), IntegrityError,
                      "a.mp4 is a file, the manifest says dir"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_archive_is_refused_and_target_untouched(case: str, tmp_path: Path,
                                                         target: Path) -> None:
    members, files, error, reason = CASES[case]
    archive = tmp_path / "evil.tar.zst"
    record = craft(archive, members, files)
    before = fingerprint(target)
    with pytest.raises(error, match=reason) as exc:
        restore_archive(archive, record, target)
    assert "evil.tar.zst" in str(exc.value)
    assert fingerprint(target) == before
    assert list((tmp_path / "outside").iterdir()) == []
    assert not Path("/tmp/vvtv-evil.txt").exists()


def test_non_utf8_member_name(tmp_path: Path, target: Path) -> None:
    archive = tmp_path / "evil.tar.zst"
    bad = member("storage/ready/bad\xff.mp4", b"x")
    record = craft(archive, [*BASE, bad], listing(BASE), fmt=tarfile.GNU_FORMAT,
                   encoding="latin-1")
    before = fingerprint(target)
    with pytest.raises(UnsafeArchive, match="evil.tar.zst: member .* is not valid UTF-8"):
        restore_archive(archive, record, target)
    assert fingerprint(target) == before


@pytest.mark.parametrize("damage", ["bitflip", "truncate", "append"])
def test_damaged_archive_never_reaches_the_target(damage: str, tree: Path, tmp_path: Path,
                                                  target: Path) -> None:
    """A wrong size fails before a byte is decompressed; a flipped byte is found as the
    archive is hashed while it is decompressed into staging, and named as the cause."""
    archive = tmp_path / "snapshot_data.tar.zst"
    rec = write_archive(archive, tree, ["storage/ready"], level=1)
    data = bytearray(archive.read_bytes())
    if damage == "bitflip":
        data[len(data) // 2] ^= 0x04
        reason = "sha256 is [0-9a-f]{64}, the manifest says " + rec.sha256
    elif damage == "truncate":
        data = data[: len(data) - 100]
        reason = f"size is {len(data)} bytes, the manifest says {rec.size}"
    else:
        data += b"\0"
        reason = "size is"
    archive.write_bytes(bytes(data))
    before = fingerprint(target)
    with pytest.raises(IntegrityError, match=f"snapshot_data.tar.zst: {reason}"):
        restore_archive(archive, rec, target)
    assert fingerprint(target) == before
    assert not [p for p in tmp_path.rglob(".vvtv-restore-*")]  # staging removed


def test_corrupt_stream_with_a_matching_record(tree: Path, tmp_path: Path,
                                               target: Path) -> None:
    archive = tmp_path / "evil.tar.zst"
    rec = write_archive(archive, tree, ["storage/ready"], level=1)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x04
    archive.write_bytes(bytes(data))
    record = record_for(archive, [e.to_dict() for e in rec.files])
    before = fingerprint(target)
    with pytest.raises(IntegrityError, match="evil.tar.zst: .*(sha256|corrupt|tar)"):
        restore_archive(archive, record, target)
    assert fingerprint(target) == before


def test_decompression_bomb_is_capped(tmp_path: Path, target: Path) -> None:
    archive = tmp_path / "evil.tar.zst"
    record = craft(archive, [*BASE, member("storage/ready/zeros.bin", bytes(4 << 20))])
    before = fingerprint(target)
    with pytest.raises(UnsafeArchive, match="evil.tar.zst: decompresses past its limit"):
        restore_archive(archive, record, target, max_ratio=10)
    with pytest.raises(UnsafeArchive, match="evil.tar.zst: the manifest lists .* cap"):
        restore_archive(archive, record, target, max_total_bytes=1 << 20)
    assert fingerprint(target) == before
    assert DEFAULT_MAX_RATIO > 1000
    restore_archive(archive, record, target, max_ratio=1e6)  # within the caps it restores


def test_symlinked_parent_in_the_target_is_refused(tree: Path, tmp_path: Path,
                                                   target: Path) -> None:
    archive = tmp_path / "snapshot_data.tar.zst"
    rec = write_archive(archive, tree, ["storage/ready"], level=1)
    os.rename(target / "storage", tmp_path / "outside" / "storage")
    (target / "storage").symlink_to(tmp_path / "outside" / "storage")
    before = fingerprint(target)
    outside_before = fingerprint(tmp_path / "outside")
    with pytest.raises(UnsafeArchive, match="storage is a symlink; refusing to restore"):
        restore_archive(archive, rec, target)
    assert fingerprint(target) == before
    assert fingerprint(tmp_path / "outside") == outside_before


# ------------------------------------------------------------------ whole snapshot folder


@pytest.fixture
def snapshot(tree: Path, tmp_path: Path, keys: Keys) -> Path:
    folder = tmp_path / "snap"
    write_snapshot(tree, folder, keys)
    return folder


def test_signature_by_another_key(snapshot: Path, keys: Keys, other_keys: Keys) -> None:
    sign_file(other_keys.secret, snapshot / "last_manifest.json", snapshot / "signature.sig",
              {"station": "lab", "generation": 1, "stamp": "2026-01-01_0000Z"})
    (snapshot / "intruder.pub").write_bytes(other_keys.public.read_bytes())  # shipped key
    with pytest.raises(SignatureError, match="signature.sig: signed by unknown key"):
        verify_snapshot(snapshot, [keys.pub])


def test_manifest_edited_after_signing(snapshot: Path, keys: Keys) -> None:
    path = snapshot / "last_manifest.json"
    path.write_text(path.read_text().replace('"generation":1', '"generation":2'))
    with pytest.raises(SignatureError, match="last_manifest.json: signature signature.sig "
                                             "does not match"):
        verify_snapshot(snapshot, [keys.pub])


def test_trusted_comment_must_agree_with_the_manifest(snapshot: Path, keys: Keys) -> None:
    sign_file(keys.secret, snapshot / "last_manifest.json", snapshot / "signature.sig",
              {"station": "other", "generation": 1})
    with pytest.raises(SignatureError, match="trusted comment says station:other"):
        verify_snapshot(snapshot, [keys.pub])


@pytest.mark.parametrize(("name", "action", "reason"), [
    ("snapshot_db.tar.zst", "flip", "sha256 is"),
    ("snapshot_system.tar.zst", "remove", "archive is missing"),
    ("final_frame.json", "flip", "sha256 is"),
    ("final_frame.json", "remove", "artifact is missing"),
    ("snapshot_data.tar.zst", "truncate", "size is"),
])
def test_damaged_snapshot_file_is_named(snapshot: Path, keys: Keys, tmp_path: Path,
                                        name: str, action: str, reason: str) -> None:
    path = snapshot / name
    if action == "remove":
        path.unlink()
    elif action == "truncate":
        path.write_bytes(path.read_bytes()[:-1])
    else:
        data = bytearray(path.read_bytes())
        data[-5] ^= 0x10
        path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"{name}: {reason}") as exc:
        verify_snapshot(snapshot, [keys.pub])
    if action == "flip":
        assert exc.value.expected != exc.value.actual


def test_missing_signature_and_manifest(snapshot: Path, keys: Keys) -> None:
    (snapshot / "signature.sig").unlink()
    with pytest.raises(SignatureError, match="signature .*signature.sig does not exist"):
        verify_snapshot(snapshot, [keys.pub])
    (snapshot / "last_manifest.json").unlink()
    with pytest.raises(IntegrityError, match="last_manifest.json does not exist"):
        verify_snapshot(snapshot, [keys.pub])


def test_one_bad_archive_leaves_the_whole_target_untouched(tree: Path, tmp_path: Path,
                                                           target: Path) -> None:
    good = write_archive(tmp_path / "snapshot_system.tar.zst", tree, ["system"], level=1)
    bad = write_archive(tmp_path / "snapshot_data.tar.zst", tree, ["storage/ready"], level=1)
    record = bad.to_manifest()
    record["files"][-1]["sha256"] = "2" * 64
    before = fingerprint(target)
    with pytest.raises(IntegrityError, match="snapshot_data.tar.zst: member storage/ready/.* "
                                             "has sha256"):
        restore_archives([(tmp_path / "snapshot_system.tar.zst", good),
                          (tmp_path / "snapshot_data.tar.zst", record)], target)
    assert fingerprint(target) == before


def test_overlapping_archive_roots_are_refused(tree: Path, tmp_path: Path, target: Path) -> None:
    a = write_archive(tmp_path / "a.tar.zst", tree, ["storage"], level=1)
    b = write_archive(tmp_path / "b.tar.zst", tree, ["storage/ready"], level=1)
    before = fingerprint(target)
    with pytest.raises(IntegrityError, match="b.tar.zst: archive root storage/ready overlaps "
                                             "storage of a.tar.zst"):
        restore_archives([(tmp_path / "a.tar.zst", a), (tmp_path / "b.tar.zst", b)], target)
    assert fingerprint(target) == before
