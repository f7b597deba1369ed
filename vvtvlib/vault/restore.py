"""The safe restorer: verify an archive against its signed record, then extract it into a
private staging folder and move it into place only when every member checked out.

Before a byte is decompressed, the records of every archive restored together are checked
as one snapshot (``members.check_plan``: declared roots, links, overlaps) and the archive's
size is checked on the open file. Then each member must be listed in the
record with the same type, size and mode (the signed mode is the one restored); only
regular files, folders and listed symlinks are allowed. Refused: absolute paths, ``..``,
members outside their archive's roots or under a symlink of any archive, symlinks that
resolve outside the snapshot's roots or through another symlink, hard links, devices,
FIFOs, setuid/setgid bits, duplicate names, unlisted and missing files, and archives that
inflate past the size cap or compression ratio. Everything is created beneath a descriptor
of the staging folder with ``O_NOFOLLOW`` at every component (``beneath.StagingTree``).
Each file is hashed as it is written, and the archive bytes as they are decompressed, in
one pass (reading, decompressing, hashing and writing overlap on their own threads): the
archive's sha256 is proven equal to the signed one before anything staged is moved into
the target, so the archive check needs no pass of its own, and a file swapped after an
earlier verification is caught. The restore stops at the first mismatch. A failure leaves
the target exactly as it was and removes the staging folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import mmap
import os
import queue
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import zstandard as zstd

from vvtvlib.core.errors import IntegrityError, UnsafeArchive, VVTVError
from vvtvlib.core.fsio import sync_filesystem

from .background import Background
from .beneath import StagingTree
from .manifest import DIR, SYMLINK, FileEntry, sha256_file
from .members import Expected, Plan, check_member, check_plan
from .schema import ArchiveModel
from .snapshot import BLOCK, DEPTH, ArchiveRecord
from .swap import move_into_place, rmtree
from .tarstream import CappedReader, TarStream

DEFAULT_MAX_RATIO = 5000.0
_HEADER_ALLOWANCE = 3 * 512 + 1024  # tar header (+ PAX header) room per member
CLOSE_DEPTH = 64  # written files waiting to be closed (descriptors, not data)
BUFFERS = 2 * DEPTH + 4  # aligned blocks in flight per archive (memory stays flat)
DIRECT_MIN = 1 << 20  # files this large are written around the page cache (``_go_direct``)
ALIGN = 4096  # direct writes: whole blocks of this size, at offsets of it


@dataclass
class RestoreResult:
    archive: str
    files: int
    bytes: int
    roots: list[str]
    seconds: float
    replaced: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreProgress:
    archive: str
    path: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


Observer = Callable[[RestoreProgress], None]


def _check_bytes(path: Path, exp: Expected, size: int, digest: str | None) -> None:
    if size != exp.size:
        raise IntegrityError(f"{path}: size is {size} bytes, the manifest says {exp.size}",
                             path=path, expected=exp.size, actual=size)
    if digest is not None and digest != exp.sha256:
        raise IntegrityError(f"{path}: sha256 is {digest}, the manifest says {exp.sha256}",
                             path=path, expected=exp.sha256, actual=digest)


def verify_archive(path: str | Path, record: ArchiveRecord | ArchiveModel | Mapping[str, Any],
                   ) -> Expected:
    """Size, then sha256, of the archive file against its record; nothing is decompressed."""
    path = Path(path)
    exp = Expected.of(record, path.name)
    if not path.is_file():
        raise IntegrityError(f"{path}: archive is missing", path=path, expected=exp.sha256)
    _check_bytes(path, exp, path.stat().st_size, None)
    _check_bytes(path, exp, exp.size, sha256_file(path)[0])
    return exp


class _Buffers:
    """Page-aligned blocks (anonymous maps), recycled: the decompressor fills one, the file
    hasher hashes it, a writer writes it out and gives it back (and on the way in: the
    archive is read into one, the decompressor and the archive hasher read it). Bounded, so
    memory stays flat; a stage that failed gives nothing back, so ``take`` watches for
    that."""

    def __init__(self, count: int) -> None:
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        for _ in range(count):
            self._free.put(mmap.mmap(-1, BLOCK))

    def take(self, check: Callable[[], None]) -> mmap.mmap:
        """A free block; while none is, ``check`` raises the error of a failed stage."""
        while True:
            try:
                return self._free.get(timeout=0.05)
            except queue.Empty:
                check()

    def give(self, buf: mmap.mmap) -> None:
        self._free.put(buf)


class HashingReader:
    """The archive file as the decompressor reads it: every byte handed over is hashed (on
    the ``hasher`` stage, overlapping decompression), so the bytes extracted are the bytes
    compared with the manifest (a file swapped or rewritten after it was verified is caught
    before its tree is used)."""

    def __init__(self, fh: Any, hasher: Background | None = None,
                 buffers: _Buffers | None = None, check: Callable[[], None] = lambda: None,
                 ) -> None:
        self.fh, self.sha, self.count = fh, hashlib.sha256(), 0
        self.hasher, self.buffers, self.check = hasher, buffers, check

    def read(self, n: int = -1) -> bytes | memoryview:
        if self.hasher is None or self.buffers is None:
            data = bytes(self.fh.read(n))
            if self.hasher is not None:
                self.hasher.hash(self.sha, data)
            else:
                self.sha.update(data)
            self.count += len(data)
            return data
        # A block filled once, then only read: by the decompressor, which asks for more only
        # once it used this up, and by the hasher, which gives it back after hashing it; so
        # the bytes hashed are the bytes decompressed, and a block is never refilled early.
        buf = self.buffers.take(self.check)
        view = memoryview(buf)[:n if 0 < n < BLOCK else BLOCK]
        got = self.fh.readinto(view)
        self.hasher.submit(_hash_block, self.sha, buf, got, self.buffers, size=got)
        self.count += got
        return view[:got]

    def mismatch(self, path: Path, exp: Expected, verified: bool) -> IntegrityError | None:
        """Hash the rest of the file (bytes after the zstd frame count too; never more than
        one byte past the signed size) and compare: the error when the bytes read are not
        the signed archive, else None."""
        while self.count <= exp.size and self.read(min(BLOCK, exp.size + 1 - self.count)):
            pass
        if self.hasher is not None:
            self.hasher.join()
        digest = self.sha.hexdigest()
        if self.count == exp.size and hmac.compare_digest(digest, exp.sha256):
            return None
        if verified:
            return IntegrityError(f"{path}: archive changed since it was verified (read "
                                  f"{self.count} bytes with sha256 {digest}, the manifest "
                                  f"says {exp.size} bytes with sha256 {exp.sha256})",
                                  path=path, expected=exp.sha256, actual=digest)
        if self.count != exp.size:
            size = (f"more than {exp.size} bytes" if self.count > exp.size
                    else f"{self.count} bytes")
            return IntegrityError(f"{path}: size is {size}, the manifest says {exp.size}",
                                  path=path, expected=exp.size, actual=self.count)
        return IntegrityError(f"{path}: sha256 is {digest}, the manifest says {exp.sha256}",
                              path=path, expected=exp.sha256, actual=digest)

    def finish(self, path: Path, exp: Expected, verified: bool = True) -> None:
        error = self.mismatch(path, exp, verified)
        if error is not None:
            raise error


def _hash_block(sha: Any, buf: mmap.mmap, n: int, buffers: _Buffers) -> None:
    try:
        sha.update(memoryview(buf)[:n])
    finally:
        buffers.give(buf)


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _go_direct(fd: int) -> bool:
    """Write this file around the page cache (``O_DIRECT``), where the filesystem allows.

    A restored tree goes to disk before it goes live, and nothing reads it back during the
    restore: copying every byte into the page cache first costs as much CPU as hashing it.
    Direct writes send the hashed buffer itself to the disk."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | flag)
    except OSError:
        return False  # tmpfs and some others refuse it: the page cache, as before
    return True


def _buffered(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~getattr(os, "O_DIRECT", 0))


def _write_out(fd: int, view: memoryview, direct: bool) -> None:
    """``view`` at the file's current end: the whole aligned blocks directly, a tail (the
    end of the file) or a refused direct write through the page cache."""
    if direct:
        whole = len(view) - len(view) % ALIGN
        start = os.lseek(fd, 0, os.SEEK_CUR)
        try:
            _write_all(fd, view[:whole])
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            _buffered(fd)  # refused (an odd short write, a filesystem that changed its mind)
            _write_all(fd, view[os.lseek(fd, 0, os.SEEK_CUR) - start:whole])
        if whole < len(view):
            _buffered(fd)
            _write_all(fd, view[whole:])
    else:
        _write_all(fd, view)


def _close(fd: int, m: tarfile.TarInfo, entry: FileEntry) -> None:
    try:
        # The signed mode, on the descriptor (no path, so no link, is involved).
        os.chmod(fd, entry.mode)
        os.utime(fd, (m.mtime, m.mtime))
        # Start writing back what went through the page cache now (Linux: DONTNEED begins
        # async writeback), so the flush before the tree goes live overlaps decompression
        # instead of following it.
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _check(entry: FileEntry, h: Any, archive: Path) -> None:
    digest = h.hexdigest()
    if digest != entry.sha256:
        raise IntegrityError(f"{archive}: member {entry.path} has sha256 {digest}, the "
                             f"manifest says {entry.sha256}", path=archive,
                             expected=entry.sha256, actual=digest, member=entry.path)


@dataclass
class _Stages:
    """Extraction overlaps on more threads: the archive bytes hashed, each file's bytes
    hashed then written (two writers, files taken in turn, so one waits for the disk while
    the other writes), and each written file closed (signed mode, mtime, writeback started:
    that may wait for the disk, so it waits on its own)."""

    writers: list[Background]
    file_hasher: Background
    archive_hasher: Background
    closer: Background
    buffers: _Buffers
    turn: int = 0

    def next_writer(self) -> Background:
        self.turn += 1
        return self.writers[self.turn % len(self.writers)]

    def raise_error(self) -> None:
        for stage in (*self.writers, self.file_hasher, self.archive_hasher, self.closer):
            if stage.error is not None:
                raise stage.error


def _hash_then_write(h: Any, buf: mmap.mmap, n: int, fd: int, direct: bool, writer: Background,
                     buffers: _Buffers) -> None:
    """On the file hasher: hash the block, then queue it to the file's writer (the same
    bytes: the block is not refilled before the writer gives it back)."""
    h.update(memoryview(buf)[:n])
    writer.submit(_write_block, fd, buf, n, direct, buffers, size=n)


def _write_block(fd: int, buf: mmap.mmap, n: int, direct: bool, buffers: _Buffers) -> None:
    try:
        _write_out(fd, memoryview(buf)[:n], direct)
    finally:
        buffers.give(buf)


def _hand_over(writer: Background, closer: Background, fd: int, m: tarfile.TarInfo,
               entry: FileEntry) -> None:
    writer.submit(_to_closer, closer, fd, m, entry, size=BLOCK, always=True)


def _to_closer(closer: Background, fd: int, m: tarfile.TarInfo, entry: FileEntry) -> None:
    closer.submit(_close, fd, m, entry, size=BLOCK, always=True)


def _fill(src: TarStream, view: memoryview) -> int:
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _write_member(src: TarStream, fd: int, entry: FileEntry, m: tarfile.TarInfo,
                  archive: Path, st: _Stages) -> None:
    """Decompress here, straight into an aligned block, while the other stages hash and
    write the previous blocks; a hash mismatch raises at the next member (or at the final
    join), before anything is moved."""
    h = hashlib.sha256()
    left = entry.size
    writer = st.next_writer()
    direct = entry.size >= DIRECT_MIN and _go_direct(fd)
    try:
        while left:
            buf = st.buffers.take(st.raise_error)
            n = _fill(src, memoryview(buf)[:min(BLOCK, left)])
            if not n:
                st.buffers.give(buf)
                raise IntegrityError(f"{archive}: member {entry.path} is truncated",
                                     path=archive, member=entry.path)
            st.file_hasher.submit(_hash_then_write, h, buf, n, fd, direct, writer,
                                  st.buffers, size=n)
            left -= n
    finally:
        # Through the hasher, then the writer: the descriptor is closed after its last block.
        st.file_hasher.submit(_hand_over, writer, st.closer, fd, m, entry, size=0,
                              always=True)
    st.file_hasher.submit(_check, entry, h, archive, size=0)


def extract_to_staging(path: Path, exp: Expected, staging: Path | StagingTree, *,
                       plan: Plan | None = None, verified: bool = True,
                       max_total_bytes: int | None = None, max_ratio: float = DEFAULT_MAX_RATIO,
                       observer: Observer | None = None,
                       abort: threading.Event | None = None) -> tuple[int, int]:
    """Stream the archive into ``staging``; returns (files, bytes).

    ``plan`` is the snapshot-wide check of every archive restored with this one (built
    from this archive alone when not given). Everything is created beneath a descriptor of
    ``staging`` without following any link. The archive bytes are hashed as they are
    decompressed and must be the manifest's: this is the archive's check when the caller
    did not hash it before (``verified=False``: nothing staged may be used unless this
    returns), and its re-check when it did (a mismatch then says the archive changed since
    it was verified). When extraction fails, the rest of the archive is hashed too: an
    archive that is not the signed one is reported as such, whatever broke first."""
    path = Path(path)
    if plan is None:
        plan = check_plan([(path, exp)])
    cap = max_total_bytes if max_total_bytes is not None else exp.file_bytes
    if exp.file_bytes > cap:
        raise UnsafeArchive(f"{path}: the manifest lists {exp.file_bytes} bytes, more than the "
                            f"cap of {cap}", path=path, expected=cap, actual=exp.file_bytes)
    limit = min(cap + _HEADER_ALLOWANCE * (len(exp.files) + 4) + 20 * 512,
                int(max(exp.size, 1) * max_ratio))
    if isinstance(staging, StagingTree):
        tree, own = staging, False
    else:
        tree, own = StagingTree(staging), True
    try:
        return _extract(path, exp, tree, limit, verified, observer, abort)
    finally:
        if own:
            tree.close()


def _extract(path: Path, exp: Expected, tree: StagingTree, limit: int, verified: bool,
             observer: Observer | None, abort: threading.Event | None) -> tuple[int, int]:
    seen: set[str] = set()
    dirs: list[tuple[str, FileEntry, tarfile.TarInfo]] = []
    written = 0
    total_files = len(exp.files)
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below, after the writer thread)
    except FileNotFoundError:
        raise IntegrityError(f"{path}: archive is missing", path=path,
                             expected=exp.sha256) from None
    with fh, Background(CLOSE_DEPTH, name="vault-closer") as closer, \
            Background(DEPTH, name="vault-writer") as writer, \
            Background(DEPTH, name="vault-writer-2") as writer2, \
            Background(DEPTH, name="vault-file-hasher") as file_hasher, \
            Background(DEPTH, name="vault-archive-hasher") as hasher:
        stages = _Stages([writer, writer2], file_hasher, hasher, closer, _Buffers(BUFFERS))
        size = os.fstat(fh.fileno()).st_size
        if size != exp.size and verified:
            raise IntegrityError(f"{path}: archive changed since it was verified (size is "
                                 f"{size} bytes, the manifest says {exp.size})", path=path,
                                 expected=exp.size, actual=size)
        _check_bytes(path, exp, size, None)
        source = HashingReader(fh, hasher, _Buffers(DEPTH + 2), stages.raise_error)
        reader = zstd.ZstdDecompressor().stream_reader(cast(Any, source), read_size=BLOCK,
                                                     read_across_frames=True)
        capped = CappedReader(reader, limit, path)
        stream = TarStream(capped)
        try:
            while (m := stream.next()) is not None:
                if abort is not None and abort.is_set():
                    raise IntegrityError(f"{path}: restore stopped (another archive failed)",
                                         path=path, stopped=True)
                rel, entry = check_member(m, exp, seen, path)
                seen.add(rel)
                if entry.type == DIR:
                    tree.mkdir(rel, path)
                    dirs.append((rel, entry, m))
                    continue
                if entry.type == SYMLINK:
                    tree.symlink(rel, m.linkname, path)
                    continue
                _write_member(stream, tree.create_file(rel, path), entry, m, path, stages)
                written += entry.size
                if observer:
                    observer(RestoreProgress(path.name, rel, len(seen), total_files,
                                             written, exp.file_bytes))
            while capped.read(BLOCK):  # drain: zstd checks the frame checksum at the end
                pass
            file_hasher.join()
            writer.join()
            writer2.join()
            closer.join()
        except (tarfile.TarError, zstd.ZstdError, EOFError, VVTVError) as exc:
            if _stopped(exc):
                raise
            # An archive that is not the signed one: that is the cause, whatever broke first.
            wrong = source.mismatch(path, exp, verified)
            if wrong is not None:
                raise wrong from None
            if isinstance(exc, tarfile.TarError):
                raise IntegrityError(f"{path}: not a valid tar stream ({exc})",
                                     path=path) from None
            if isinstance(exc, zstd.ZstdError):
                raise IntegrityError(f"{path}: zstd stream is corrupt ({exc})",
                                     path=path) from None
            if isinstance(exc, EOFError):
                raise IntegrityError(f"{path}: archive is truncated ({exc})",
                                     path=path) from None
            raise
        source.finish(path, exp, verified)
    missing = sorted(set(exp.files) - seen)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise IntegrityError(f"{path}: file {missing[0]}{more} listed in the manifest is "
                             "missing from the archive", path=path, missing=missing[:20])
    for rel, entry, m in reversed(dirs):  # deepest first, so read-only folders do not block
        tree.finish_dir(rel, entry.mode, m.mtime, path)
    return len(seen), written


Item = tuple[str | Path, ArchiveRecord | ArchiveModel | Mapping[str, Any]]


def restore_archives(items: list[Item], dest_root: str | Path, *,
                     max_total_bytes: int | None = None, max_ratio: float = DEFAULT_MAX_RATIO,
                     observer: Observer | None = None, workers: int = 2,
                     ) -> list[RestoreResult]:
    """Restore several archives as one change: every record is checked as one snapshot
    first, then each archive is extracted into a private staging folder beside the target
    (side by side, ``workers`` at a time) while its bytes are hashed, and only when every
    archive matched its signed size and sha256 and every file its own are their roots
    flushed to disk and moved into place. A failure anywhere leaves the target exactly as it
    was."""
    dest_root = Path(dest_root)
    exps = [(Path(p), Expected.of(rec, Path(p).name)) for p, rec in items]
    plan = check_plan(exps)  # every record, as one snapshot, before the target is touched
    created_root = not dest_root.exists()
    dest_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".vvtv-restore-", dir=dest_root))  # 0700, same fs
    abort = threading.Event()

    def stage(i: int) -> RestoreResult:
        start = time.perf_counter()
        path, exp = exps[i]
        staging = work / f"tree{i}"
        staging.mkdir(mode=0o700)
        try:
            with StagingTree(staging) as tree:
                # One pass: the archive is hashed as it is decompressed (on the descriptor
                # it is extracted from) into this private staging folder; a mismatch fails
                # the whole restore and the staging folder is dropped, so no byte of an
                # archive that is not the signed one reaches the target.
                files, nbytes = extract_to_staging(path, exp, tree, plan=plan,
                                                   verified=False,
                                                   max_total_bytes=max_total_bytes,
                                                   max_ratio=max_ratio, observer=observer,
                                                   abort=abort)
                for rel in exp.roots:
                    if not tree.exists(rel):
                        raise IntegrityError(f"{path}: archive root {rel} is not in the "
                                             "archive", path=path, member=rel)
        except BaseException:
            abort.set()  # the other archives stop at their next member
            raise
        return RestoreResult(path.name, files, nbytes, exp.roots, time.perf_counter() - start)

    try:
        if workers <= 1 or len(exps) <= 1:
            results = [stage(i) for i in range(len(exps))]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(stage, i) for i in range(len(exps))]
                results = _gather(futures)
        moves = [(work / f"tree{i}" / rel, rel) for i, (_, exp) in enumerate(exps)
                 for rel in exp.roots]
        # On disk before it becomes the tree: a power cut must not leave truncated files.
        sync_filesystem(work)
        replaced = set(move_into_place(moves, dest_root, work))
    except BaseException:
        rmtree(work)
        if created_root:
            rmtree(dest_root)
        raise
    rmtree(work)
    for r in results:
        r.replaced = [rel for rel in r.roots if rel in replaced]
    return results


def _stopped(exc: BaseException) -> bool:
    return isinstance(exc, IntegrityError) and bool(exc.context.get("stopped"))


def _gather(futures: list[Future[RestoreResult]]) -> list[RestoreResult]:
    """Every result, or the error of the archive that failed first-hand (not one that only
    stopped because another failed)."""
    results: list[RestoreResult] = []
    errors: list[BaseException] = []
    for f in futures:
        try:
            results.append(f.result())
        except BaseException as exc:  # noqa: BLE001 (re-raised below)
            errors.append(exc)
    if errors:
        raise next((e for e in errors if not _stopped(e)), errors[0])
    return results


def restore_archive(path: str | Path, record: ArchiveRecord | ArchiveModel | Mapping[str, Any],
                    dest_root: str | Path, *, max_total_bytes: int | None = None,
                    max_ratio: float = DEFAULT_MAX_RATIO, observer: Observer | None = None,
                    ) -> RestoreResult:
    """Verify one archive, extract it into a private staging folder beside the target, then
    move each of its roots (``data``, ``storage/ready``, ...) into ``dest_root``."""
    return restore_archives([(path, record)], dest_root, max_total_bytes=max_total_bytes,
                            max_ratio=max_ratio, observer=observer)[0]


def __getattr__(name: str) -> Any:
    # the whole-folder check lives in folder.py (it builds on this module)
    if name in ("verify_snapshot", "VerifiedSnapshot", "restore_snapshot"):
        from . import folder
        return getattr(folder, name)
    raise AttributeError(name)
