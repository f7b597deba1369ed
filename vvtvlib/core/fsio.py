"""Small file-system primitives every epic shares: atomic writes, directory fsync, names.

``atomic_write`` writes a sibling temp file and renames it over the target, so a reader (or
a crash) sees the old file or the new one, never a torn one. The mode is set with
``fchmod`` so the umask can neither widen a private file nor narrow a public one.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def atomic_write(path: str | Path, data: bytes | str, *, mode: int = 0o644,
                 durable: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(raw)
            fh.flush()
            if durable:
                os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    return path


def fsync_dir(path: str | Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unique_name(parent: str | Path, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... when that name is taken in ``parent``."""
    candidate, n = base, 1
    while (Path(parent) / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def sync_filesystem(path: str | Path) -> None:
    """Flush the dirty data of the filesystem holding ``path`` (``syncfs``), so a tree that
    is about to go live is on disk first; ``sync`` where ``syncfs`` is not available."""
    import ctypes
    import ctypes.util

    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.syncfs(fd) == 0:
            return
    except (OSError, AttributeError):
        pass
    finally:
        os.close(fd)
    os.sync()
