"""The snapshot writer: ``tar.zst`` archives made in one pass per file.

Each file is read once, in 1 MiB blocks; every block feeds the file's sha256 and the
tar/zstd stream, so the manifest describes exactly the bytes archived. The archive itself is
hashed as it is written. Tar is PAX with sorted members, numeric owners (no names) and the
files' mtimes; zstd writes frame checksums and compresses on worker threads.

Member paths are relative to the station root (``data/plans.sqlite``,
``storage/ready/...``), so one restore into a root puts every tree in place.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import zstandard as zstd

from vvtvlib.core.config import Section
from vvtvlib.core.errors import IntegrityError, UnsafeArchive

from .background import Background
from .manifest import DIR, FILE, SYMLINK, FileEntry, normalise_path, root_hash, walk

BLOCK = 1 << 20
LONG_WINDOW_LOG = 24  # 16 MiB: within every decoder's default limit (27)
JOB_SIZE = 8 << 20
_TAR_BLOCK = 512
_ZEROS = bytes(BLOCK)


class ArchiveLevel(Section):
    level: int = 3
    long: bool = False  # long-distance matching: cheap, and finds SQLite's repeated rows
    threads: int | None = None  # compressing threads (1: inline); None: the policy's


class SnapshotPolicy(Section):
    """Per-archive zstd settings, chosen by measurement (README.md, "The vault").

    Media is already compressed: level 1 on one worker thread stores it at disk speed.
    Databases compress well: level 3 with long-distance matching is as small as level 9 at
    about four times its speed. ``system/`` is mostly JSONL logs and TOML, where level 1
    was smaller and faster than level 3.
    """

    archives: dict[str, ArchiveLevel] = {
        "snapshot_data.tar.zst": ArchiveLevel(level=1, threads=1),
        "snapshot_db.tar.zst": ArchiveLevel(level=3, long=True),
        "snapshot_system.tar.zst": ArchiveLevel(level=1, threads=1),
    }
    default: ArchiveLevel = ArchiveLevel(level=3, long=True)
    threads: int = 0  # 0 = one zstd worker per core
    # never snapshotted: caches, scratch space and runtime files (pidfiles, sockets)
    exclude: list[str] = ["storage/cache", "storage/tmp", "system/run"]

    def for_archive(self, archive_name: str) -> ArchiveLevel:
        return self.archives.get(archive_name, self.default)

    def thread_count(self, archive_name: str | None = None) -> int:
        setting = self.for_archive(archive_name) if archive_name else self.default
        if setting.threads is not None:
            return setting.threads
        return self.threads or (os.cpu_count() or 1)


def compressor(level: int, *, long: bool = False, threads: int = 0) -> zstd.ZstdCompressor:
    """zstd with frame checksums, compressing on ``threads`` threads: 1 is the writing
    thread itself (no hand-off: the cheapest for media at level 1), N > 1 are N zstd
    workers, 0 is one worker per core (like ``zstd -T0``). The window
    and job size are bounded so memory stays well under 300 MiB whatever the input."""
    workers = threads or (os.cpu_count() or 1)
    params = zstd.ZstdCompressionParameters.from_level(
        level, window_log=LONG_WINDOW_LOG if long else 0, enable_ldm=long,
        threads=workers if workers > 1 else 0, job_size=JOB_SIZE if workers > 1 else 0,
        write_checksum=True)
    return zstd.ZstdCompressor(compression_params=params)


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


class _HashingSink:
    """The archive file: every compressed byte is hashed (on the hasher thread) on its way
    to disk."""

    def __init__(self, fd: int, hasher: Background) -> None:
        self.fd = fd
        self.hasher = hasher
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        data = bytes(data)  # the hasher keeps it after this call returns
        self.hasher.hash(self.sha, data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        return len(data)

    def flush(self) -> None:
        pass


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


def _copy_file(full: Path, st: os.stat_result, out: Any, hasher: Background) -> Any:
    """Stream the file (as listed: ``st``) into ``out``, each block also to its sha256 (on
    the hasher thread); returns the hash object, final once the hasher is joined."""
    h = hashlib.sha256()
    size = st.st_size
    done = 0
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        while done < size:
            chunk = os.read(fd, min(BLOCK, size - done))
            if not chunk:
                break
            hasher.hash(h, chunk)
            out.write(chunk)
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
        out.write(_ZEROS[:pad])
    return h


def write_archive(out_path: str | Path, root_dir: str | Path, selection: Iterable[str],
                  *, level: int = 3, long: bool = False, threads: int = 0,
                  tree: str | None = None, exclude: Iterable[str] = (),
                  observer: Observer | None = None, durable: bool = True) -> ArchiveRecord:
    """Archive ``selection`` (files or folders relative to ``root_dir``, minus ``exclude``)
    into ``out_path``; written under a temporary name, fsynced (``durable``) and renamed
    when complete. ``threads``: compressing threads, 1 = the writing thread, 0 = one per
    core (file and archive hashing run on one more thread)."""
    start = time.perf_counter()
    out_path, root_dir = Path(out_path), Path(root_dir)
    roots = sorted({normalise_path(s, what="selector") for s in selection})
    rels = walk(root_dir, roots, exclude)
    stats: list[tuple[str, os.stat_result]] = [(rel, os.lstat(root_dir / rel)) for rel in rels]
    total = sum(st.st_size for _, st in stats if stat.S_ISREG(st.st_mode))
    tmp = out_path.with_name(f".{out_path.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    hasher = Background(name="vault-hasher")
    sink = _HashingSink(fd, hasher)
    entries: list[FileEntry] = []
    pending: dict[int, Any] = {}  # entry index -> hash object still being fed
    cctx = compressor(level, long=long, threads=threads)
    done = 0
    try:
        writer = cctx.stream_writer(cast(IO[bytes], sink), closefd=False, write_size=BLOCK)
        for i, (rel, st) in enumerate(stats):
            full = root_dir / rel
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                writer.write(_tarinfo(rel, st, DIR, 0))
                entries.append(FileEntry(rel, DIR, 0, mode, None))
            elif stat.S_ISLNK(st.st_mode):
                target = normalise_link(full, os.readlink(full))
                writer.write(_tarinfo(rel, st, SYMLINK, 0, target))
                entries.append(FileEntry(rel, SYMLINK, len(target.encode()), mode,
                                         hashlib.sha256(target.encode()).hexdigest(), target))
            elif stat.S_ISREG(st.st_mode):
                writer.write(_tarinfo(rel, st, FILE, st.st_size))
                pending[len(entries)] = _copy_file(full, st, writer, hasher)
                entries.append(FileEntry(rel, FILE, st.st_size, mode, None))
                done += st.st_size
            else:
                raise UnsafeArchive(f"{full} is not a regular file, folder or symlink; "
                                    "refusing to archive it", path=full)
            if observer:
                observer(ArchiveProgress(out_path.name, rel, i + 1, len(stats), done, total))
        writer.write(bytes(2 * _TAR_BLOCK))  # end-of-archive marker
        writer.flush(zstd.FLUSH_FRAME)
        writer.close()
        hasher.join()
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    finally:
        hasher.close()
    os.close(fd)
    for i, h in pending.items():
        e = entries[i]
        entries[i] = FileEntry(e.path, e.type, e.size, e.mode, h.hexdigest())
    os.replace(tmp, out_path)
    return ArchiveRecord(out_path.name, sink.sha.hexdigest(), sink.size,
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
