"""The one pidfile implementation: ``<pid>\\n`` in a file under ``system/run/``.

A pidfile only says which process *claimed* a role; whether that process is still the one
(pids are recycled) is the caller's check, passed in as ``is_live``. Writes are atomic
(a reader sees the old pid or the new one) and a holder removes the file on exit only if
it still names itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import UsageError
from .fsio import atomic_write


def read_pid(path: str | Path) -> int | None:
    """The pid a pidfile names, or None when it is missing or unreadable."""
    try:
        return int(Path(path).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def write_pid(path: str | Path, *, mode: int = 0o600, pid: int | None = None) -> None:
    atomic_write(path, f"{pid or os.getpid()}\n", mode=mode)


def remove_if_ours(path: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if read_pid(path) == os.getpid():
            Path(path).unlink()


@contextlib.contextmanager
def held(path: str | Path, is_live: Callable[[int], bool], busy: str,
         *, mode: int = 0o600) -> Iterator[None]:
    """Claim ``path`` for this process while the block runs; ``UsageError(busy + pid)``
    when another live process (by ``is_live``) holds it. A stale file is taken over."""
    other = read_pid(path)
    if other is not None and other != os.getpid() and is_live(other):
        raise UsageError(f"{busy} (pid {other})", path=path)
    write_pid(path, mode=mode)
    try:
        yield
    finally:
        remove_if_ours(path)
