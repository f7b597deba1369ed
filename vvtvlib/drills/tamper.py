"""Deliberate tampering with a locked vault, for drills and acceptance tests: each injector
does what an intruder with root would do (lift the flag, change the thing, put the flag back)
and returns the path the guardian must name. Never used by the guardian itself."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vvtvlib.core.errors import UsageError
from vvtvlib.guardian.baseline import load_baseline
from vvtvlib.guardian.flags import is_immutable, set_immutable
from vvtvlib.guardian.paths import GuardianPaths
from vvtvlib.vault.folder import SUMS, newest_snapshot

KINDS = ("flip_byte", "touch", "chmod", "unflag", "new_file", "delete")
# what a cycle reports for each injector (flip_byte: within N cycles, the others at once)
EXPECTED_KIND = {"flip_byte": "content", "touch": "mtime", "chmod": "mode", "unflag": "flag",
                 "new_file": "new", "delete": "missing"}


@dataclass(frozen=True)
class Tamper:
    kind: str
    path: str  # relative to the station root, as the report names it


@contextlib.contextmanager
def _lifted(*paths: Path) -> Iterator[None]:
    """Lift the immutable flag (where set) for the duration, then put it back."""
    lifted = [p for p in paths if p.exists() and is_immutable(p)]
    for p in lifted:
        set_immutable(p, False)
    try:
        yield
    finally:
        for p in lifted:
            if p.exists():
                set_immutable(p, True)


def _largest_file(folder: Path) -> Path:
    files = [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()]
    return max(files, key=lambda p: (p.stat().st_size, p.name))


def _flip_byte(target: Path) -> None:
    st = os.stat(target)
    with _lifted(target):
        os.chmod(target, st.st_mode | 0o200)
        with open(target, "r+b") as fh:
            fh.seek(st.st_size // 2)
            b = fh.read(1)
            fh.seek(st.st_size // 2)
            fh.write(bytes([b[0] ^ 0x01]))
        os.chmod(target, st.st_mode)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # a careful intruder


def inject(paths: GuardianPaths, kind: str, folder: Path | None = None) -> Tamper:
    """Tamper with the newest snapshot folder (or ``folder``) in the way ``kind`` names."""
    if kind not in KINDS:
        raise UsageError(f"unknown tamper {kind!r}; one of {', '.join(KINDS)}", actual=kind)
    if folder is None:
        folder = newest_snapshot(paths.layout.snapshots, sealed=False)
        if folder is None:
            raise UsageError(f"no snapshot folder in {paths.layout.snapshots} to tamper with",
                             path=paths.layout.snapshots)

    def flip() -> Path:
        target = _largest_file(folder)
        _flip_byte(target)
        return target

    def touch() -> Path:
        target = folder / "final_frame.json"
        with _lifted(target):
            os.utime(target)
        return target

    def chmod() -> Path:
        target = folder / "final_frame.jpg"
        with _lifted(target):
            os.chmod(target, 0o666)
        return target

    def unflag() -> Path:
        target = folder / SUMS
        set_immutable(target, False)
        if not is_immutable(target):
            os.chmod(target, os.stat(target).st_mode | 0o200)  # read-only mode lifted instead
        return target

    def new_file() -> Path:
        target = folder / "intruder.bin"
        with _lifted(folder):
            mode = os.stat(folder).st_mode
            os.chmod(folder, mode | 0o200)
            target.write_bytes(b"not part of the snapshot\n")
            os.chmod(folder, mode)
        return target

    def delete() -> Path:
        target = folder / "last_transmission.md"
        with _lifted(folder):
            mode = os.stat(folder).st_mode
            os.chmod(folder, mode | 0o200)
            set_immutable(target, False)
            target.unlink()
            os.chmod(folder, mode)
        return target

    actions: dict[str, Callable[[], Path]] = {
        "flip_byte": flip, "touch": touch, "chmod": chmod, "unflag": unflag,
        "new_file": new_file, "delete": delete}
    return Tamper(kind, paths.rel(actions[kind]()))


def revert(paths: GuardianPaths, tamper: Tamper) -> None:
    """Undo an injected tamper so the vault equals its baseline again (drills end by resuming;
    a deleted file cannot be brought back this way)."""
    baseline, _ = load_baseline(paths.baseline)
    entry = baseline.by_path.get(tamper.path)
    full = paths.root / tamper.path
    if tamper.kind == "flip_byte":
        _flip_byte(full)  # the same byte again: the original content
    elif tamper.kind in ("touch", "chmod", "unflag") and entry is not None:
        with _lifted(full):
            os.chmod(full, entry.mode)
            os.utime(full, ns=(os.stat(full).st_atime_ns, entry.mtime_ns))
        if entry.immutability == "chattr":
            set_immutable(full, True)
    elif tamper.kind == "new_file":
        folder = full.parent
        folder_entry = baseline.by_path[paths.rel(folder)]
        with _lifted(folder):
            full.unlink()
            os.utime(folder, ns=(os.stat(folder).st_atime_ns, folder_entry.mtime_ns))
    else:
        raise UsageError(f"a {tamper.kind} tamper cannot be reverted", actual=tamper.kind)
