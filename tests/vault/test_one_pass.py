"""The one-pass restore: an archive is not hashed before it is decompressed, only while it
is, into a private staging folder. So an archive that is not the signed one (swapped before
the restore, rewritten while it runs) must still never reach the target and must leave
nothing behind, even when every member in it matches the manifest; and the large files,
written around the page cache from the buffer that was hashed, must come back intact."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import random
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard as zstd

from vvtvlib.core.errors import IntegrityError
from vvtvlib.vault import restore_archive, restore_archives
from vvtvlib.vault.restore import ALIGN, BLOCK, _go_direct, _write_out

from .test_adversarial import BASE, Member, fingerprint, listing, member, record_for

DIRT = tarfile.DIRTYPE
SKIPPABLE = b"\x50\x2a\x4d\x18"  # a zstd frame every decoder skips (it decompresses to nothing)


def _noise(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _archive(path: Path, members: list[Member], *, roots: list[str],
             tail: int = 64) -> dict[str, Any]:
    """A tar.zst of ``members`` followed by a skippable frame of ``tail`` zero bytes, and a
    record matching it: bytes in that frame change the archive, never what it holds."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    frame = zstd.ZstdCompressor(level=3, write_checksum=True).compress(buf.getvalue())
    path.write_bytes(frame + SKIPPABLE + tail.to_bytes(4, "little") + bytes(tail))
    return {**record_for(path, listing(members)), "roots": roots}


def _flip_last_byte(path: Path) -> None:
    """In place: same file, same size, one byte of the skippable frame changed."""
    with path.open("r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        fh.write(b"\x01")


def _left_behind(parent: Path) -> list[str]:
    return sorted(str(p.relative_to(parent)) for p in parent.rglob("*")
                  if ".vvtv-restore-" in p.name)


def _data_members() -> list[Member]:
    return [*BASE, member("storage/ready/b.mp4", _noise(3 * BLOCK + 77, 1)),
            member("storage/ready/c.mp4", _noise(3 * BLOCK, 2))]


def _db_members() -> list[Member]:
    return [member("data", kind=DIRT, mode=0o755),
            member("data/plans.sqlite", b"restored plans" * 1000),
            member("data/queue.sqlite", b"restored queue" * 1000)]


@pytest.mark.parametrize("existing", [True, False])
def test_archive_swapped_before_the_restore_never_reaches_the_target(
        existing: bool, tmp_path: Path, target: Path) -> None:
    """Every member matches the manifest; only the archive's signed sha256 does not."""
    data = tmp_path / "snapshot_data.tar.zst"
    rec = _archive(data, _data_members(), roots=["storage"])
    _flip_last_byte(data)
    if not existing:
        target = tmp_path / "new-node"
    before = fingerprint(target) if existing else None
    with pytest.raises(IntegrityError, match=r"snapshot_data\.tar\.zst: sha256 is [0-9a-f]{64}, "
                                             "the manifest says " + rec["sha256"]):
        restore_archive(data, rec, target)
    if existing:
        assert fingerprint(target) == before
    else:
        assert not target.exists()
    assert _left_behind(tmp_path) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_archive_rewritten_while_the_restore_runs_never_reaches_the_target(
        workers: int, tmp_path: Path, target: Path) -> None:
    """The data archive is rewritten in place after its first file was staged (its tail
    was not read yet); the database archive, good, must not reach the target either."""
    data = tmp_path / "snapshot_data.tar.zst"
    rec_data = _archive(data, _data_members(), roots=["storage"])
    db = tmp_path / "snapshot_db.tar.zst"
    rec_db = _archive(db, _db_members(), roots=["data"])
    rewritten: list[str] = []

    def observer(progress: Any) -> None:
        if progress.archive == data.name and not rewritten:
            assert progress.bytes_done < data.stat().st_size - BLOCK  # the tail is unread
            _flip_last_byte(data)
            rewritten.append(progress.path)

    before = fingerprint(target)
    with pytest.raises(IntegrityError, match=r"snapshot_data\.tar\.zst: sha256 is [0-9a-f]{64}, "
                                             "the manifest says " + rec_data["sha256"]):
        restore_archives([(data, rec_data), (db, rec_db)], target, observer=observer,
                         workers=workers)
    assert rewritten == ["storage/ready/a.mp4"]
    assert fingerprint(target) == before
    assert (target / "data" / "plans.sqlite").read_bytes() == b"db"
    assert _left_behind(tmp_path) == []


def test_damage_that_breaks_the_stream_is_reported_as_the_archive(tmp_path: Path,
                                                                  target: Path) -> None:
    """A byte flipped inside a stored file: the member, the zstd checksum or the archive
    could fail first; the error names the cause, an archive that is not the signed one."""
    data = tmp_path / "snapshot_data.tar.zst"
    rec = _archive(data, _data_members(), roots=["storage"])
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    data.write_bytes(bytes(raw))
    before = fingerprint(target)
    with pytest.raises(IntegrityError, match=r"snapshot_data\.tar\.zst: sha256 is [0-9a-f]{64}, "
                                             "the manifest says " + rec["sha256"]):
        restore_archive(data, rec, target)
    assert fingerprint(target) == before
    assert _left_behind(tmp_path) == []


def test_large_files_come_back_intact(tmp_path: Path, target: Path) -> None:
    """Sizes around the block and the direct-write alignment, the modes the manifest gives."""
    sizes = [BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + ALIGN, 3 * BLOCK + 123, ALIGN * 5]
    files = [member(f"storage/ready/f{i}.mp4", _noise(n, 10 + i), mode=0o640 if i % 2 else 0o644)
             for i, n in enumerate(sizes)]
    data = tmp_path / "snapshot_data.tar.zst"
    rec = _archive(data, [*BASE, *files], roots=["storage"])
    result = restore_archive(data, rec, target)
    assert result.bytes == sum(sizes) + len(BASE[2][1])
    for info, body in files:
        out = target / info.name
        assert out.stat().st_size == len(body)
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(body).digest()
        assert out.stat().st_mode & 0o7777 == info.mode
    assert not (target / "storage" / "ready" / "existing.mp4").exists()  # the root replaced


def test_a_refused_direct_write_goes_through_the_page_cache(tmp_path: Path) -> None:
    """An unaligned buffer is refused by a direct write (EINVAL on ext4 and most others):
    the bytes still land, in order, and the file is back to ordinary writes."""
    body = _noise(3 * ALIGN + 10, 3)
    raw = bytearray(len(body) + 1)
    raw[1:] = body
    path = tmp_path / "out.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        direct = _go_direct(fd)
        _write_out(fd, memoryview(raw)[1:], direct)
        _write_out(fd, memoryview(b"end"), direct)
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0) == 0
    finally:
        os.close(fd)
    assert path.read_bytes() == body + b"end"
