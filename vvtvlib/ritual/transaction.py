"""The snapshot folder as a transaction.

Everything is written under ``<parent>/.<stamp>.partial-<pid>`` and renamed to
``<parent>/<stamp>`` only when complete and signed (a rename within one folder is atomic), so
a crash at any step leaves nothing that looks like a snapshot: readers ignore dot-folders.
One ritual runs at a time (an ``flock`` in ``system/run/``); under that lock any partial
folder left behind is stale and is removed by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vvtvlib.core.errors import IntegrityError, UsageError
from vvtvlib.core.fsio import fsync_dir, unique_name

_PARTIAL = re.compile(r"^\.(?P<stamp>.+)\.partial-(?P<pid>\d+)$")


def is_partial(path: Path) -> bool:
    return bool(_PARTIAL.match(path.name))


def stale_partials(parent: Path) -> list[Path]:
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if is_partial(p))


def unique_stamp(parent: Path, stamp: str) -> str:
    """``stamp``, or ``stamp-2``, ``stamp-3``... when a snapshot of that minute exists."""
    return unique_name(parent, stamp)


@contextlib.contextmanager
def ritual_lock(lock_path: Path) -> Iterator[None]:
    """Exclusive for the life of the process (the kernel drops it when the process dies)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another ritual is running on this station (lock {lock_path})",
                             path=lock_path) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


@dataclass
class SnapshotFolder:
    parent: Path
    stamp: str
    partial: Path
    cleaned: tuple[str, ...] = ()
    committed: bool = False

    @classmethod
    def begin(cls, parent: Path, stamp: str) -> SnapshotFolder:
        """Remove stale partials (call under the ritual lock), pick a free stamp, create."""
        parent.mkdir(parents=True, exist_ok=True)
        cleaned = []
        for stale in stale_partials(parent):
            shutil.rmtree(stale, ignore_errors=True)
            cleaned.append(stale.name)
        stamp = unique_stamp(parent, stamp)
        partial = parent / f".{stamp}.partial-{os.getpid()}"
        partial.mkdir(mode=0o750)
        return cls(parent, stamp, partial, tuple(cleaned))

    @property
    def final(self) -> Path:
        return self.parent / self.stamp

    @property
    def path(self) -> Path:
        return self.final if self.committed else self.partial

    def commit(self) -> Path:
        if self.final.exists():
            raise IntegrityError(f"snapshot {self.final} appeared while the ritual ran",
                                 path=self.final)
        for child in self.partial.iterdir():  # the contents must be on disk before the name
            if child.is_file():
                with child.open("rb") as fh:
                    os.fsync(fh.fileno())
        fsync_dir(self.partial)
        os.rename(self.partial, self.final)
        fsync_dir(self.parent)
        self.committed = True
        return self.final

    def abort(self) -> None:
        if not self.committed:
            shutil.rmtree(self.partial, ignore_errors=True)
