"""Making the guarded trees immutable at lockdown and writable again at resume.

``auto`` sets the immutable inode flag where the filesystem and our privileges allow it and
falls back to removing write bits elsewhere; ``readonly`` always uses modes (hosts where the
flag is not wanted). Files are locked before their folders and released after them, so a
folder is never sealed over a file still being changed. The per-path result is what the
baseline records and what the guardian then expects.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vvtvlib.core.errors import UsageError
from vvtvlib.guardian.baseline import Baseline, guarded_paths
from vvtvlib.guardian.flags import make_readonly, set_immutable
from vvtvlib.guardian.paths import GuardianPaths

Method = Literal["auto", "chattr", "readonly"]
METHODS: tuple[str, ...] = ("auto", "chattr", "readonly")


@dataclass
class Applied:
    per_path: dict[str, str] = field(default_factory=dict)  # "chattr" | "readonly" | "none"
    original_modes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        return dict(Counter(self.per_path.values()))


def _deepest_first(rels: list[str]) -> list[str]:
    return sorted(rels, key=lambda r: (-r.count("/"), r))


def apply_immutability(paths: GuardianPaths, method: Method = "auto") -> Applied:
    if method not in METHODS:
        raise UsageError(f"immutability method {method!r} is not one of {', '.join(METHODS)}")
    out = Applied()
    for rel in _deepest_first(guarded_paths(paths)):
        full = paths.root / rel
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            out.per_path[rel] = "none"  # a link has neither flags nor its own modes
            continue
        if method != "readonly" and set_immutable(full, True):
            out.per_path[rel] = "chattr"
            continue
        if method == "chattr":
            raise UsageError(f"{rel}: the immutable flag cannot be set here (filesystem or "
                             "privileges); use --immutability auto or readonly", path=full)
        out.original_modes[rel] = make_readonly(full)
        out.per_path[rel] = "readonly"
    return out


@dataclass
class Released:
    flags_cleared: list[str] = field(default_factory=list)
    modes_restored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def release_immutability(paths: GuardianPaths, baseline: Baseline | None) -> Released:
    """Reverse lockdown: clear flags (folders first) and restore the recorded modes. Without a
    baseline, clear the flag on everything under the guarded roots."""
    out = Released()
    if baseline is None:
        for rel in sorted(guarded_paths(paths), key=lambda r: (r.count("/"), r)):
            full = paths.root / rel
            if not full.is_symlink() and set_immutable(full, False):
                out.flags_cleared.append(rel)
        return out
    for entry in sorted(baseline.entries, key=lambda e: (e.path.count("/"), e.path)):
        full = paths.root / entry.path
        if not os.path.lexists(full):
            out.missing.append(entry.path)
            continue
        if entry.type == "symlink":
            continue
        if entry.immutability == "chattr":
            set_immutable(full, False)
            out.flags_cleared.append(entry.path)
        if entry.original_mode is not None:
            os.chmod(full, entry.original_mode)
            out.modes_restored.append(entry.path)
    return out


def readonly_files(files: list[Path]) -> dict[str, int]:
    """Remove write bits from ``files`` (databases at lockdown); return the modes before."""
    return {str(p): make_readonly(p) for p in files if p.exists()}


def restore_modes(modes: dict[str, int]) -> list[str]:
    restored = []
    for path, mode in modes.items():
        if Path(path).exists():
            os.chmod(path, mode)
            restored.append(path)
    return restored
