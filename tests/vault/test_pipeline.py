"""The writer and restorer pipelines: the same bytes as the serial path, the one error of any
stage raised as itself with nothing partial left behind, bounded queues, and stored (raw)
frames for incompressible files that the standard tools read."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import zstandard as zstd

from tests.plugins.system import need_tool
from vvtvlib.vault import restore as vault_restore
from vvtvlib.vault import restore_archive, scan, write_archive
from vvtvlib.vault import snapshot as vault_snapshot
from vvtvlib.vault.background import Background
from vvtvlib.vault.snapshot import (
    DEPTH,
    FLUSH_DEPTH,
    STORE_MIN,
    ArchiveProgress,
    incompressible,
    stored_frame,
)

MEDIA = ["storage/ready", "broadcast/hls"]


def _vault_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vault-")]


def _big_media(tree: Path) -> None:
    """Files spanning several blocks: one incompressible (stored), one compressible."""
    ready = tree / "storage" / "ready"
    (ready / "big.mp4").write_bytes(os.urandom(3 * (1 << 20) + 12345))
    (ready / "notes.json").write_bytes(b'{"slot": 1, "item": "news"}\n' * 100_000)


def _frames(data: bytes) -> list[tuple[int, bool]]:
    """(content size or -1, has checksum) of every zstd frame in ``data``."""
    out = []
    pos = 0
    while pos < len(data):
        params = zstd.get_frame_parameters(data[pos:pos + 18])
        size = zstd.frame_content_size(data[pos:pos + 18])
        # frame_header_size + blocks: walk the blocks to find the end of the frame
        pos += zstd.frame_header_size(data[pos:pos + 18])
        while True:
            header = int.from_bytes(data[pos:pos + 3], "little")
            block_type, block_size = (header >> 1) & 3, header >> 3
            pos += 3 + (1 if block_type == 1 else block_size)
            if header & 1:
                break
        pos += 4 if params.has_checksum else 0
        out.append((size, params.has_checksum))
    return out


# ------------------------------------------------------------------ same bytes


@pytest.mark.parametrize(("level", "threads"), [(1, 1), (3, 2)])
def test_pipeline_writes_the_same_bytes_as_the_serial_path(tree: Path, tmp_path: Path,
                                                             level: int, threads: int) -> None:
    _big_media(tree)
    piped = write_archive(tmp_path / "a.tar.zst", tree, [*MEDIA, "system"], level=level,
                          threads=threads)
    serial = write_archive(tmp_path / "b.tar.zst", tree, [*MEDIA, "system"], level=level,
                           threads=threads, pipeline=False)
    assert (tmp_path / "a.tar.zst").read_bytes() == (tmp_path / "b.tar.zst").read_bytes()
    assert piped.sha256 == serial.sha256 == hashlib.sha256(
        (tmp_path / "a.tar.zst").read_bytes()).hexdigest()
    assert piped.files == serial.files == scan(tree, [*MEDIA, "system"])


# ------------------------------------------------------------------ stored frames


def test_incompressible_files_are_stored_and_standard_tools_read_them(tree: Path,
                                                                     tmp_path: Path) -> None:
    need_tool("zstd")
    _big_media(tree)
    archive = tmp_path / "snapshot_data.tar.zst"
    rec = write_archive(archive, tree, MEDIA, level=1, threads=1)
    data = archive.read_bytes()
    frames = _frames(data)
    stored = [size for size, checksum in frames if not checksum]
    # big.mp4 (4 blocks) and clip_a.mp4 (150 kB): one stored frame per block read, each
    # sized as the block; the compressible JSON and the 40 kB clip are compressed
    assert sorted(stored) == sorted([1 << 20] * 3 + [12345, 150_000])
    assert any(checksum for _, checksum in frames)
    assert rec.size < rec.raw_bytes * 1.01
    assert subprocess.run(["zstd", "-tq", str(archive)], check=False).returncode == 0
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["tar", "--zstd", "-xf", str(archive), "-C", str(out)], check=True)
    assert scan(out, MEDIA) == rec.files
    target = tmp_path / "target"
    restore_archive(archive, rec, target)
    assert scan(target, MEDIA) == rec.files


def test_stored_frame_is_a_standard_zstd_frame() -> None:
    payload = os.urandom(300_000)
    frame = b"".join(stored_frame(payload))
    assert zstd.frame_content_size(frame) == len(payload)
    assert zstd.ZstdDecompressor().decompress(frame) == payload
    assert len(frame) == len(payload) + 9 + 3 * 3  # magic, descriptor, size; 3 raw blocks
    with pytest.raises(ValueError):
        stored_frame(b"")


def test_only_incompressible_data_is_stored() -> None:
    assert incompressible(os.urandom(256 * 1024))
    assert not incompressible(b"news weather sports " * 20_000)
    assert STORE_MIN <= 128 * 1024


# ------------------------------------------------------------------ errors


def test_a_producer_error_mid_pipeline_is_raised_and_leaves_nothing(tree: Path,
                                                                    tmp_path: Path) -> None:
    _big_media(tree)
    boom = RuntimeError("observer failed")

    def observer(p: ArchiveProgress) -> None:
        if p.path == "storage/ready/big.mp4":
            raise boom

    with pytest.raises(RuntimeError) as caught:
        write_archive(tmp_path / "x.tar.zst", tree, MEDIA, observer=observer)
    assert caught.value is boom
    assert list(tmp_path.glob("*x.tar.zst*")) == []
    assert _vault_threads() == []


@pytest.mark.parametrize("stage", ["archive", "compressor"])
def test_a_consumer_error_mid_pipeline_is_the_one_error(tree: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        stage: str) -> None:
    _big_media(tree)
    full = OSError(errno.ENOSPC, "No space left on device")
    calls = {"n": 0}
    if stage == "archive":
        real = vault_snapshot._writev_all

        def writev(fd: int, parts: Any) -> None:
            calls["n"] += 1
            if calls["n"] == 3:
                raise full
            real(fd, parts)

        monkeypatch.setattr(vault_snapshot, "_writev_all", writev)
    else:
        real_frame = vault_snapshot.stored_frame

        def frame(data: bytes) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                raise full
            return real_frame(data)

        monkeypatch.setattr(vault_snapshot, "stored_frame", frame)
    with pytest.raises(OSError) as caught:
        write_archive(tmp_path / "x.tar.zst", tree, MEDIA, level=1, threads=1)
    assert caught.value is full
    assert list(tmp_path.glob("*x.tar.zst*")) == []
    assert _vault_threads() == []


def test_a_write_error_mid_restore_leaves_the_target_untouched(tree: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               ) -> None:
    _big_media(tree)
    archive = tmp_path / "s.tar.zst"
    rec = write_archive(archive, tree, MEDIA, level=1)
    target = tmp_path / "target"
    (target / "storage" / "ready").mkdir(parents=True)
    (target / "storage" / "ready" / "old.mp4").write_bytes(b"old")
    full = OSError(errno.ENOSPC, "No space left on device")
    calls = {"n": 0}
    real = vault_restore._write_all

    def write_all(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise full
        real(fd, data)

    monkeypatch.setattr(vault_restore, "_write_all", write_all)
    with pytest.raises(OSError) as caught:
        restore_archive(archive, rec, target)
    assert caught.value is full
    assert sorted(p.name for p in (target / "storage" / "ready").iterdir()) == ["old.mp4"]
    assert sorted(p.name for p in target.iterdir()) == ["storage"]
    assert _vault_threads() == []


# ------------------------------------------------------------------ bounded memory


def test_a_stage_queue_never_holds_more_than_its_depth() -> None:
    gate, started = threading.Event(), threading.Event()
    ran: list[int] = []

    def first() -> None:
        started.set()
        gate.wait()

    stage = Background(depth=4, name="vault-test")
    try:
        stage.submit(first)
        started.wait()  # the worker holds item 0; the queue is empty
        for i in range(4):
            stage.submit(ran.append, i, size=1 << 20)
        assert stage._q.full() and stage._q.qsize() == 4
        blocked = threading.Thread(target=stage.submit, args=(ran.append, 4),
                                   kwargs={"size": 1 << 20})
        blocked.start()
        assert blocked.is_alive()  # a fifth waits for room (it cannot be queued)
        assert stage._q.qsize() == 4
        gate.set()
        blocked.join()
        stage.join()
        assert ran == [0, 1, 2, 3, 4]  # in order
    finally:
        gate.set()
        stage.close()


def test_the_writer_stages_are_bounded(tree: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _big_media(tree)
    seen: list[tuple[int, int]] = []

    class Recording(Background):
        def _put(self, *args: Any, **kw: Any) -> None:
            super()._put(*args, **kw)
            seen.append((self._q.maxsize, self._q.qsize()))

    monkeypatch.setattr(vault_snapshot, "Background", Recording)
    write_archive(tmp_path / "x.tar.zst", tree, MEDIA, level=1)
    # data stages hold DEPTH blocks; the writeback stage holds (offset, length) requests
    assert seen and {maxsize for maxsize, _ in seen} <= {DEPTH, FLUSH_DEPTH}
    assert DEPTH in {maxsize for maxsize, _ in seen}
    assert all(size <= maxsize for maxsize, size in seen)
