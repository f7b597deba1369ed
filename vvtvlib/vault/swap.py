"""Putting staged trees into place: each root is swapped in with ``rename`` and the old one
moved aside; on any failure everything moved is put back, so the target is as before."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import UnsafeArchive


def refuse_symlinked_parents(dest_root: Path, rel: str) -> None:
    parts = rel.split("/")
    for i in range(1, len(parts)):
        p = dest_root.joinpath(*parts[:i])
        if p.is_symlink():
            raise UnsafeArchive(f"{p} is a symlink; refusing to restore {rel} through it",
                                path=p)


def move_into_place(moves: list[tuple[Path, str]], dest_root: Path, work: Path) -> list[str]:
    """Swap each staged root into the target; on any failure put everything back."""
    done: list[tuple[Path, Path | None]] = []
    made: list[Path] = []
    replaced: list[str] = []
    backup = work / "previous"
    backup.mkdir()
    try:
        for staged, rel in moves:
            refuse_symlinked_parents(dest_root, rel)
            dest = dest_root / rel
            missing = []
            parent = dest.parent
            while not parent.exists():
                missing.append(parent)
                parent = parent.parent
            for p in reversed(missing):
                p.mkdir()
                made.append(p)
            old: Path | None = None
            if os.path.lexists(dest):
                old = backup / str(len(done))
                os.rename(dest, old)
                replaced.append(rel)
            os.rename(staged, dest)
            done.append((dest, old))
    except BaseException:
        undo = work / "undo"
        undo.mkdir(exist_ok=True)
        for i, (dest, old) in enumerate(reversed(done)):
            os.rename(dest, undo / str(i))
            if old is not None:
                os.rename(old, dest)
        for p in reversed(made):
            p.rmdir()
        raise
    return replaced


def rmtree(path: Path) -> None:
    def _writable(func: Any, p: str, _exc: Any) -> None:
        os.chmod(os.path.dirname(p), 0o700)
        func(p)

    if path.exists():
        for dirpath, dirnames, _ in os.walk(path):
            for d in dirnames:
                full = os.path.join(dirpath, d)
                if not os.path.islink(full):
                    os.chmod(full, 0o700)
        shutil.rmtree(path, onerror=_writable)
