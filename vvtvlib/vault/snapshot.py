"""The snapshot writer: ``tar.zst`` archives made in one pass per file, as a pipeline.

Each file is read once, in 1 MiB blocks; every block feeds the file's sha256 and the
tar/zstd stream, so the manifest describes exactly the bytes archived. The archive itself is
hashed as it is written. Tar is PAX with sorted members, numeric owners (no names) and the
files' mtimes.

Four threads per archive overlap on two cores (hashlib, zstd and the file system calls
release the GIL on large blocks), joined by bounded queues (``background.Background``): the
reader (the calling thread: reads each block and checks the file did not change), the file
hasher, the compressor, and the archive stage (hashes the archive bytes and writes them,
starting writeback as it goes so the final fsync has little left). The first error of any
stage stops the archive, is raised as that one error, and the partial file is removed.

Incompressible files (media: the first block saves less than ``STORE_SAVING`` at level 1)
are *stored*: their blocks go into zstd frames of raw blocks, written straight from the
read buffer without any compression work; everything else (tar headers, padding, text,
databases) goes into regular compressed frames with checksums. An archive is thus a
sequence of standard zstd frames that ``zstd -t``, ``zstd -d`` and ``tar --zstd`` read.

Member paths are relative to the station root (``data/plans.sqlite``,
``storage/ready/...``), so one restore into a root puts every tree in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tarfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard as zstd

from vvtvlib.core.errors import IntegrityError, UnsafeArchive

from .background import Background
from .manifest import DIR, FILE, SYMLINK, FileEntry, normalise_path, root_hash, walk

BLOCK = 1 << 20
LONG_WINDOW_LOG = 24  # 16 MiB: within every decoder's default limit (27)
JOB_SIZE = 8 << 20
DEPTH = 8  # blocks queued per stage: memory stays flat whatever the input
WRITEBACK = 8 << 20  # start writing the archive back to disk every 8 MiB
FLUSH_DEPTH = 64  # writeback requests queued (ranges, not data)
STORE_PROBE = 128 * 1024  # bytes of a file's first block compressed to judge it
STORE_MIN = 64 * 1024  # smaller files are always compressed
STORE_SAVING = 0.03  # saving below this at level 1: the file is stored
_TAR_BLOCK = 512
_ZEROS = bytes(BLOCK)
_ZSTD_MAGIC = (0xFD2FB528).to_bytes(4, "little")
_RAW_BLOCK = 128 * 1024  # zstd's largest block
# Frame header descriptor: content size in 4 bytes, single segment, no checksum, no dict.
_STORED_FHD = bytes([0xA0])


@dataclass(frozen=True)
class ArchiveLevel:
    level: int = 3
    long: bool = False  # long-distance matching
    threads: int | None = None  # compressing threads (1: inline); None: the policy's


def _default_archives() -> dict[str, ArchiveLevel]:
    return {"snapshot_data.tar.zst": ArchiveLevel(level=1, threads=1),
            "snapshot_db.tar.zst": ArchiveLevel(level=1),
            "snapshot_system.tar.zst": ArchiveLevel(level=1, threads=1)}


@dataclass(frozen=True)
class SnapshotPolicy:
    """Per-archive zstd settings, chosen by measurement (README.md, "The vault").

    Media is already compressed: it is stored (raw zstd blocks, see ``STORE_SAVING``), and
    what is left (tar headers, playlists) takes level 1 on the archive's own thread.
    Databases: level 1 on one worker per core; on the benchmark's databases level 3 was 6 %
    smaller at 45 % more CPU, and long-distance matching 0.2 % smaller at 75 % more (the
    database archive is the writer's longest path). ``system/`` is mostly JSONL logs and
    TOML, where level 1 was smaller and faster than level 3.
    """

    archives: dict[str, ArchiveLevel] = field(default_factory=_default_archives)
    default: ArchiveLevel = ArchiveLevel(level=3)
    threads: int = 0  # 0 = one zstd worker per core
    # never snapshotted: caches, scratch space and runtime files (pidfiles, sockets)
    exclude: list[str] = field(
        default_factory=lambda: ["storage/cache", "storage/tmp", "system/run"])

    def for_archive(self, archive_name: str) -> ArchiveLevel:
        return self.archives.get(archive_name, self.default)

    def thread_count(self, archive_name: str | None = None) -> int:
        setting = self.for_archive(archive_name) if archive_name else self.default
        if setting.threads is not None:
            return setting.threads
        return self.threads or (os.cpu_count() or 1)


def compressor(level: int, *, long: bool = False, threads: int = 0) -> zstd.ZstdCompressor:
    """zstd with frame checksums, compressing on ``threads`` threads: 1 is the compressing
    stage itself (no hand-off: the cheapest at level 1), N > 1 are N zstd workers, 0 is one
    worker per core (like ``zstd -T0``). The window and job size are bounded so memory stays
    well under 300 MiB whatever the input."""
    workers = threads or (os.cpu_count() or 1)
    params = zstd.ZstdCompressionParameters.from_level(
        level, window_log=LONG_WINDOW_LOG if long else 0, enable_ldm=long,
        threads=workers if workers > 1 else 0, job_size=JOB_SIZE if workers > 1 else 0,
        write_checksum=True)
    return zstd.ZstdCompressor(compression_params=params)


def stored_frame(data: bytes) -> list[bytes | memoryview]:
    """``data`` (1 byte to 4 GiB) as one zstd frame of raw blocks, without compression work
    or a copy: the parts after the header are views of ``data``. Single segment with the
    content size in the header; no frame checksum (the bytes are the file's own, covered by
    its sha256 in the manifest and by the archive's)."""
    n = len(data)
    if not 0 < n < 1 << 32:
        raise ValueError(f"a stored frame holds 1 byte to 4 GiB, not {n}")
    view = memoryview(data)
    parts: list[bytes | memoryview] = [_ZSTD_MAGIC + _STORED_FHD + n.to_bytes(4, "little")]
    for off in range(0, n, _RAW_BLOCK):
        size = min(_RAW_BLOCK, n - off)
        last = off + size == n
        parts.append(((size << 3) | last).to_bytes(3, "little"))  # raw block type is 0
        parts.append(view[off:off + size])
    return parts


def incompressible(block: bytes, probe: zstd.ZstdCompressor | None = None) -> bool:
    """Whether ``block`` saves less than ``STORE_SAVING`` at zstd level 1 (judged on its
    first ``STORE_PROBE`` bytes; ``probe``: a level-1 compressor of this thread's)."""
    sample = block[:STORE_PROBE]
    probe = probe or zstd.ZstdCompressor(level=1)
    return len(probe.compress(sample)) >= len(sample) * (1 - STORE_SAVING)


@dataclass(frozen=True)
class ArchiveProgress:
    archive: str
    path: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


Observer = Callable[[ArchiveProgress], None]


@dataclass
class ArchiveRecord:
    name: str
    sha256: str
    size: int
    tree: str
    root_sha256: str
    files: list[FileEntry]
    roots: list[str]
    level: int
    raw_bytes: int
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Archive size over the bytes of the files in it (lower is better)."""
        return self.size / self.raw_bytes if self.raw_bytes else 1.0

    def to_manifest(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "tree": self.tree,
                "root_sha256": self.root_sha256, "roots": list(self.roots),
                "level": self.level, "raw_bytes": self.raw_bytes,
                "files": [e.to_dict() for e in self.files]}


class _ArchiveFile:
    """The last stage: every byte of the archive is hashed and written, in order. Writeback
    to disk starts every ``WRITEBACK`` bytes (Linux: ``POSIX_FADV_DONTNEED`` on dirty pages
    starts it without dropping them), so the fsync at the end overlaps the work instead of
    following it."""

    def __init__(self, fd: int, flusher: Background | None) -> None:
        self.fd = fd
        self.sha = hashlib.sha256()
        self.size = 0
        self._flushed = 0
        self._flusher = flusher  # starting writeback may wait for the disk: its own thread

    def write(self, parts: Sequence[bytes | memoryview]) -> None:
        for part in parts:
            self.sha.update(part)
        _writev_all(self.fd, parts)
        self.size += sum(len(p) for p in parts)
        if self._flusher is not None and self.size - self._flushed >= WRITEBACK:
            self._flusher.submit(_writeback, self.fd, self._flushed, self.size - self._flushed,
                                 size=WRITEBACK)
            self._flushed = self.size


def _writeback(fd: int, offset: int, length: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _writev_all(fd: int, parts: Sequence[bytes | memoryview]) -> None:
    views = [memoryview(p) for p in parts if len(p)]
    while views:
        n = os.writev(fd, views[:1024])  # IOV_MAX
        while n and views:
            if n >= len(views[0]):
                n -= len(views.pop(0))
            else:
                views[0] = views[0][n:]
                n = 0


class _Compressor:
    """The compressing stage: regular compressed frames, interrupted by stored frames for
    incompressible files; hands every piece of output to the archive stage."""

    def __init__(self, cctx: zstd.ZstdCompressor, out: Background, archive: _ArchiveFile,
                 ) -> None:
        self.cctx, self.out, self.archive = cctx, out, archive
        self.cobj: Any = None

    def _emit(self, parts: list[bytes | memoryview], size: int) -> None:
        if size:
            self.out.submit(self.archive.write, parts, size=size)

    def compress(self, data: bytes) -> None:
        if self.cobj is None:
            self.cobj = self.cctx.compressobj()
        z = self.cobj.compress(data)
        self._emit([z], len(z))

    def store(self, data: bytes) -> None:
        self.end_frame()
        self._emit(stored_frame(data), len(data))

    def end_frame(self) -> None:
        if self.cobj is not None:
            z = self.cobj.flush()
            self.cobj = None
            self._emit([z], len(z))


def normalise_link(full: Path, target: str) -> str:
    try:
        target.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeArchive(f"{full}: symlink target is not valid UTF-8", path=full) from None
    return target


def _tarinfo(rel: str, st: os.stat_result, kind: str, size: int, target: str = "") -> bytes:
    info = tarfile.TarInfo(rel)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    if kind == DIR:
        info.type = tarfile.DIRTYPE
    elif kind == SYMLINK:
        info.type = tarfile.SYMTYPE
        info.linkname = target
    else:
        info.type = tarfile.REGTYPE
        info.size = size
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@dataclass
class _Pipeline:
    hasher: Background
    packer: Background
    out: Background
    flusher: Background
    comp: _Compressor
    probe: zstd.ZstdCompressor | None  # None: never store

    def stages(self) -> list[Background]:
        # producers before their consumers
        return [self.packer, self.out, self.hasher, self.flusher]


def _copy_file(full: Path, st: os.stat_result, p: _Pipeline) -> Any:
    """Stream the file (as listed: ``st``) into the archive, each block also to its sha256
    (on the hasher stage); returns the hash object, final once the hasher is joined."""
    h = hashlib.sha256()
    size = st.st_size
    done = 0
    put: Callable[[bytes], None] = p.comp.compress
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        while done < size:
            chunk = os.read(fd, min(BLOCK, size - done))
            if not chunk:
                break
            if done == 0 and p.probe is not None and size >= STORE_MIN \
                    and incompressible(chunk, p.probe):
                put = p.comp.store
            p.hasher.hash(h, chunk)
            p.packer.submit(put, chunk, size=len(chunk))
            done += len(chunk)
        grew = os.read(fd, 1) if done == size else b""
        now = os.fstat(fd)
    finally:
        os.close(fd)
    # a writer still at work (or a file swapped since it was listed) would make the
    # manifest lie: stop instead
    if done != size or grew or (now.st_ino, now.st_mtime_ns) != (st.st_ino, st.st_mtime_ns):
        raise IntegrityError(f"{full} changed while it was archived (size {size} at start)",
                             path=full)
    pad = -size % _TAR_BLOCK
    if pad:
        p.packer.submit(p.comp.compress, _ZEROS[:pad], size=pad)
    return h


def write_archive(out_path: str | Path, root_dir: str | Path, selection: Iterable[str],
                  *, level: int = 3, long: bool = False, threads: int = 0,
                  tree: str | None = None, exclude: Iterable[str] = (),
                  observer: Observer | None = None, durable: bool = True,
                  store: bool = True, pipeline: bool = True) -> ArchiveRecord:
    """Archive ``selection`` (files or folders relative to ``root_dir``, minus ``exclude``)
    into ``out_path``; written under a temporary name, fsynced (``durable``) and renamed
    when complete. ``threads``: compressing threads, 1 = the compressing stage, 0 = one per
    core. ``store``: incompressible files go in stored (raw) frames. ``pipeline=False`` runs
    every stage in the calling thread (the same calls in the same order: the same bytes)."""
    start = time.perf_counter()
    out_path, root_dir = Path(out_path), Path(root_dir)
    roots = sorted({normalise_path(s, what="selector") for s in selection})
    rels = walk(root_dir, roots, exclude)
    stats: list[tuple[str, os.stat_result]] = [(rel, os.lstat(root_dir / rel)) for rel in rels]
    total = sum(st.st_size for _, st in stats if stat.S_ISREG(st.st_mode))
    cctx = compressor(level, long=long, threads=threads)
    probe = zstd.ZstdCompressor(level=1) if store else None
    tmp = out_path.with_name(f".{out_path.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    inline = not pipeline
    flusher = Background(FLUSH_DEPTH, name="vault-flush", inline=inline)
    archive = _ArchiveFile(fd, flusher if durable else None)
    out = Background(DEPTH, name="vault-archive", inline=inline)
    packer = Background(DEPTH, name="vault-compressor", inline=inline)
    hasher = Background(DEPTH, name="vault-hasher", inline=inline)
    p = _Pipeline(hasher, packer, out, flusher, _Compressor(cctx, out, archive), probe)
    entries: list[FileEntry] = []
    pending: dict[int, Any] = {}  # entry index -> hash object still being fed
    done = 0
    try:
        for i, (rel, st) in enumerate(stats):
            full = root_dir / rel
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                packer.submit(p.comp.compress, _tarinfo(rel, st, DIR, 0))
                entries.append(FileEntry(rel, DIR, 0, mode, None))
            elif stat.S_ISLNK(st.st_mode):
                target = normalise_link(full, os.readlink(full))
                packer.submit(p.comp.compress, _tarinfo(rel, st, SYMLINK, 0, target))
                entries.append(FileEntry(rel, SYMLINK, len(target.encode()), mode,
                                         hashlib.sha256(target.encode()).hexdigest(), target))
            elif stat.S_ISREG(st.st_mode):
                packer.submit(p.comp.compress, _tarinfo(rel, st, FILE, st.st_size))
                pending[len(entries)] = _copy_file(full, st, p)
                entries.append(FileEntry(rel, FILE, st.st_size, mode, None))
                done += st.st_size
            else:
                raise UnsafeArchive(f"{full} is not a regular file, folder or symlink; "
                                    "refusing to archive it", path=full)
            if observer:
                observer(ArchiveProgress(out_path.name, rel, i + 1, len(stats), done, total))
        packer.submit(p.comp.compress, bytes(2 * _TAR_BLOCK))  # end-of-archive marker
        packer.submit(p.comp.end_frame)
        for stage in p.stages():
            stage.join()
        if durable:
            os.fsync(fd)
    except BaseException as exc:
        for stage in p.stages():  # the rest of every queue is skipped
            stage.fail(exc)
            stage.close()
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    finally:
        for stage in p.stages():
            stage.close()
    os.close(fd)
    for i, h in pending.items():
        e = entries[i]
        entries[i] = FileEntry(e.path, e.type, e.size, e.mode, h.hexdigest())
    os.replace(tmp, out_path)
    return ArchiveRecord(out_path.name, archive.sha.hexdigest(), archive.size,
                         tree or out_path.name.split(".")[0], root_hash(entries), entries,
                         roots, level, total, time.perf_counter() - start)


def write_policy_archive(out_path: str | Path, root_dir: str | Path, selection: Iterable[str],
                         policy: SnapshotPolicy | None = None, **kw: Any) -> ArchiveRecord:
    """``write_archive`` with the level and threads the policy gives this archive's name,
    leaving out the policy's excluded paths."""
    policy = policy or SnapshotPolicy()
    setting = policy.for_archive(Path(out_path).name)
    kw["exclude"] = [*policy.exclude, *kw.get("exclude", ())]
    return write_archive(out_path, root_dir, selection, level=setting.level, long=setting.long,
                         threads=policy.thread_count(Path(out_path).name), **kw)


@dataclass(frozen=True)
class ArchiveSpec:
    """One archive of a snapshot: what to put in it, and an optional step that must run
    first (e.g. ``snapshot_databases`` filling the staging folder it archives)."""

    out_path: Path
    root_dir: Path
    selection: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    prepare: Callable[[], Any] | None = None


def write_archives(specs: Iterable[ArchiveSpec], policy: SnapshotPolicy | None = None, *,
                   workers: int = 3, observer: Observer | None = None,
                   ) -> dict[str, ArchiveRecord]:
    """Write several archives at once: media archiving is I/O-bound and database
    compression CPU-bound, so running them side by side keeps both cores busy."""
    specs = list(specs)

    def one(spec: ArchiveSpec) -> ArchiveRecord:
        if spec.prepare is not None:
            spec.prepare()
        return write_policy_archive(spec.out_path, spec.root_dir, spec.selection, policy,
                                    exclude=spec.exclude, observer=observer)

    if workers <= 1 or len(specs) <= 1:
        records = [one(s) for s in specs]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            records = list(pool.map(one, specs))
    return {r.name: r for r in records}
