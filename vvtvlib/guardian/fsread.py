"""Reading guarded files without changing them: ``lstat``, the flags ioctl, and hashing with
``O_NOATIME`` (so not even the access time moves) and a hint that the pages are not reused
(so a cycle does not push the host's working set out of the page cache)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

from .flags import is_immutable
from .model import Observed

_CHUNK = 1 << 20
_NOATIME = getattr(os, "O_NOATIME", 0)


def file_type(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def observe(root: Path, rel: str, *, read_flag: bool) -> Observed | None:
    """What ``root/rel`` looks like now; None when it does not exist."""
    full = root / rel
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return None
    kind = file_type(st.st_mode)
    immutable = (is_immutable(full, known_not_link=True)
                 if read_flag and kind in ("file", "dir") else None)
    target = os.readlink(full) if kind == "symlink" else None
    return Observed(rel, kind, st.st_size if kind == "file" else 0, stat.S_IMODE(st.st_mode),
                    st.st_mtime_ns, st.st_uid, st.st_gid, immutable, target)


def open_noatime(path: Path) -> int:
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags | _NOATIME)
    except PermissionError:
        if not _NOATIME:
            raise
        return os.open(path, flags)  # O_NOATIME is refused to non-owners without CAP_FOWNER


def hash_file(path: str | Path) -> tuple[str, int]:
    """sha256 and byte count of a regular file, read without touching its atime."""
    fd = open_noatime(Path(path))
    h = hashlib.sha256()
    total = 0
    try:
        _advise(fd, "POSIX_FADV_SEQUENTIAL")
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        while True:
            n = os.readv(fd, [buf])
            if n == 0:
                break
            h.update(view[:n])
            total += n
        _advise(fd, "POSIX_FADV_DONTNEED")
    finally:
        os.close(fd)
    return h.hexdigest(), total


def _advise(fd: int, name: str) -> None:
    advice = getattr(os, name, None)
    if advice is not None and hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):  # advisory only
            os.posix_fadvise(fd, 0, 0, advice)
