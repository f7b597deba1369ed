"""The safe restorer: verify an archive against its signed record, then extract it into a
private staging folder and move it into place only when every member checked out.

The archive's sha256 and size are checked before a single byte is decompressed. Then each
member must be listed in the record, with the same type and size; only regular files and
folders are allowed (and symlinks the record lists whose target stays inside the tree).
Refused: absolute paths, ``..``, members through a symlinked parent, hard links, devices,
FIFOs, setuid/setgid bits, duplicate names, unlisted and missing files, and archives that
inflate past the size cap or compression ratio. Each file is hashed as it is written and the
restore stops at the first mismatch. A failure leaves the target exactly as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard as zstd

from vvtvlib.core.errors import IntegrityError, UnsafeArchive
from vvtvlib.core.fsio import sync_filesystem

from .background import Background
from .manifest import DIR, SYMLINK, FileEntry, sha256_file
from .members import Expected, check_member
from .schema import ArchiveModel
from .snapshot import BLOCK, ArchiveRecord
from .swap import check_roots, move_into_place, rmtree
from .tarstream import CappedReader, TarStream

DEFAULT_MAX_RATIO = 5000.0
_HEADER_ALLOWANCE = 3 * 512 + 1024  # tar header (+ PAX header) room per member


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


def verify_archive(path: str | Path, record: ArchiveRecord | ArchiveModel | Mapping[str, Any],
                   ) -> Expected:
    """Size, then sha256, of the archive file against its record; nothing is decompressed."""
    path = Path(path)
    exp = Expected.of(record, path.name)
    if not path.is_file():
        raise IntegrityError(f"{path}: archive is missing", path=path, expected=exp.sha256)
    size = path.stat().st_size
    if size != exp.size:
        raise IntegrityError(f"{path}: size is {size} bytes, the manifest says {exp.size}",
                             path=path, expected=exp.size, actual=size)
    digest, _ = sha256_file(path)
    if digest != exp.sha256:
        raise IntegrityError(f"{path}: sha256 is {digest}, the manifest says {exp.sha256}",
                             path=path, expected=exp.sha256, actual=digest)
    return exp


def _write_all(fd: int, h: Any, data: bytes) -> None:
    h.update(data)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _finish(fd: int, dest: Path, m: tarfile.TarInfo, entry: FileEntry, h: Any,
            archive: Path) -> None:
    # Start writing this file back now (Linux: DONTNEED begins async writeback), so the
    # flush before the tree goes live overlaps decompression instead of following it.
    with contextlib.suppress(OSError, AttributeError):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    digest = h.hexdigest()
    if digest != entry.sha256:
        raise IntegrityError(f"{archive}: member {entry.path} has sha256 {digest}, the "
                             f"manifest says {entry.sha256}", path=archive,
                             expected=entry.sha256, actual=digest, member=entry.path)
    os.chmod(dest, m.mode & 0o1777)
    os.utime(dest, (m.mtime, m.mtime))


def _write_member(src: TarStream, dest: Path, entry: FileEntry, m: tarfile.TarInfo,
                  archive: Path, io: Background) -> None:
    """Decompress here while the I/O thread hashes and writes the previous block; a hash
    mismatch raises at the next member (or at the final join), before anything is moved."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    h = hashlib.sha256()
    left = entry.size
    try:
        while left:
            chunk = src.read(min(BLOCK, left))
            if not chunk:
                raise IntegrityError(f"{archive}: member {entry.path} is truncated",
                                     path=archive, member=entry.path)
            io.submit(_write_all, fd, h, chunk, size=len(chunk))
            left -= len(chunk)
    finally:
        io.submit(_finish, fd, dest, m, entry, h, archive, size=0)


def extract_to_staging(path: Path, exp: Expected, staging: Path, *,
                       max_total_bytes: int | None = None, max_ratio: float = DEFAULT_MAX_RATIO,
                       observer: Observer | None = None,
                       abort: threading.Event | None = None) -> tuple[int, int]:
    """Stream the (already verified) archive into ``staging``; returns (files, bytes)."""
    cap = max_total_bytes if max_total_bytes is not None else exp.file_bytes
    if exp.file_bytes > cap:
        raise UnsafeArchive(f"{path}: the manifest lists {exp.file_bytes} bytes, more than the "
                            f"cap of {cap}", path=path, expected=cap, actual=exp.file_bytes)
    limit = min(cap + _HEADER_ALLOWANCE * (len(exp.files) + 4) + 20 * 512,
                int(max(exp.size, 1) * max_ratio))
    seen: set[str] = set()
    links: set[str] = set()
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    written = 0
    total_files = len(exp.files)
    with open(path, "rb") as fh, Background(name="vault-writer") as io:
        reader = zstd.ZstdDecompressor().stream_reader(fh, read_size=BLOCK)
        capped = CappedReader(reader, limit, path)
        stream = TarStream(capped)
        try:
            while (m := stream.next()) is not None:
                if abort is not None and abort.is_set():
                    raise IntegrityError(f"{path}: restore stopped (another archive failed)",
                                         path=path)
                rel, entry = check_member(m, exp, seen, links, path)
                seen.add(rel)
                dest = staging / rel
                if not dest.parent.is_dir() or dest.parent.is_symlink():
                    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                if entry.type == DIR:
                    dest.mkdir(mode=0o700)
                    dirs.append((dest, m))
                    continue
                if entry.type == SYMLINK:
                    os.symlink(m.linkname, dest)
                    links.add(rel)
                    continue
                _write_member(stream, dest, entry, m, path, io)
                written += entry.size
                if observer:
                    observer(RestoreProgress(path.name, rel, len(seen), total_files,
                                             written, exp.file_bytes))
            while capped.read(BLOCK):  # drain: zstd checks the frame checksum at the end
                pass
            io.join()
        except tarfile.TarError as exc:
            raise IntegrityError(f"{path}: not a valid tar stream ({exc})", path=path) from None
        except zstd.ZstdError as exc:
            raise IntegrityError(f"{path}: zstd stream is corrupt ({exc})", path=path) from None
        except EOFError as exc:
            raise IntegrityError(f"{path}: archive is truncated ({exc})", path=path) from None
    missing = sorted(set(exp.files) - seen)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise IntegrityError(f"{path}: file {missing[0]}{more} listed in the manifest is "
                             "missing from the archive", path=path, missing=missing[:20])
    for dest, m in reversed(dirs):  # deepest first, so read-only folders do not block
        os.chmod(dest, m.mode & 0o1777)
        os.utime(dest, (m.mtime, m.mtime))
    return len(seen), written


Item = tuple[str | Path, ArchiveRecord | ArchiveModel | Mapping[str, Any]]


def restore_archives(items: list[Item], dest_root: str | Path, *,
                     max_total_bytes: int | None = None, max_ratio: float = DEFAULT_MAX_RATIO,
                     observer: Observer | None = None, workers: int = 2,
                     ) -> list[RestoreResult]:
    """Restore several archives as one change: each is verified and extracted into a
    private staging folder beside the target (side by side, ``workers`` at a time), and only
    when all of them checked out are their roots moved into place. A failure anywhere
    leaves the target exactly as it was."""
    dest_root = Path(dest_root)
    exps = [(Path(p), Expected.of(rec, Path(p).name)) for p, rec in items]
    check_roots(exps)
    created_root = not dest_root.exists()
    dest_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".vvtv-restore-", dir=dest_root))  # 0700, same fs
    abort = threading.Event()

    def stage(i: int) -> RestoreResult:
        start = time.perf_counter()
        path, exp = exps[i]
        verify_archive(path, {"sha256": exp.sha256, "size": exp.size, "files": []})
        staging = work / f"tree{i}"
        staging.mkdir(mode=0o700)
        try:
            files, nbytes = extract_to_staging(path, exp, staging,
                                               max_total_bytes=max_total_bytes,
                                               max_ratio=max_ratio, observer=observer,
                                               abort=abort)
        except BaseException:
            abort.set()  # the other archives stop at their next member
            raise
        for rel in exp.roots:
            if not os.path.lexists(staging / rel):
                raise IntegrityError(f"{path}: archive root {rel} is not in the archive",
                                     path=path, member=rel)
        return RestoreResult(path.name, files, nbytes, exp.roots, time.perf_counter() - start)

    try:
        if workers <= 1 or len(exps) <= 1:
            results = [stage(i) for i in range(len(exps))]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(stage, i) for i in range(len(exps))]
                results = [f.result() for f in futures]
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
