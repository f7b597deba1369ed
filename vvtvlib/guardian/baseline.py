"""The lockdown baseline: per guarded path the size, mode, mtime, owner, content hash and the
immutability expected (``chattr`` flag, ``readonly`` modes, or ``none``).

Written once (by lockdown, or by the guardian when it starts on an unlocked vault) as canonical
JSON with mode 0600; its sha256 is recorded in the hash-chained state log, so a baseline edited
afterwards is refused instead of silently re-defining what "unchanged" means.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.errors import IntegrityError, UsageError
from vvtvlib.core.fsio import atomic_write

from .flags import WRITE_BITS
from .fsread import hash_file, observe
from .model import GuardedEntry, Immutability
from .paths import GuardianPaths

SCHEMA = "vvtv.sleepguard-baseline/1"


@dataclass
class Baseline:
    created_utc: str
    snapshot: str | None  # the stamp lockdown verified (None when the guardian established it)
    roots: dict[str, bool]  # guarded root -> existed at baseline time
    entries: list[GuardedEntry]
    databases: list[dict[str, Any]] = field(default_factory=list)  # lockdown's read-only DBs
    established_by: str = "lockdown"

    @property
    def by_path(self) -> dict[str, GuardedEntry]:
        return {e.path: e for e in self.entries}

    @property
    def files(self) -> list[str]:
        return sorted(e.path for e in self.entries if e.type == "file")

    def immutability_summary(self) -> dict[str, int]:
        out = {"chattr": 0, "readonly": 0, "none": 0}
        for e in self.entries:
            out[e.immutability] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "created_utc": self.created_utc, "snapshot": self.snapshot,
                "established_by": self.established_by, "roots": self.roots,
                "immutability": self.immutability_summary(),
                "entries": [e.to_dict() for e in sorted(self.entries, key=lambda e: e.path)],
                "databases": self.databases}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        if data.get("schema") != SCHEMA:
            raise UsageError(f"baseline schema is {data.get('schema')!r}, expected {SCHEMA}")
        return cls(data["created_utc"], data.get("snapshot"), dict(data["roots"]),
                   [GuardedEntry.from_dict(e) for e in data["entries"]],
                   list(data.get("databases", [])), data.get("established_by", "lockdown"))


def canonical_bytes(baseline: Baseline) -> bytes:
    return (json.dumps(baseline.to_dict(), sort_keys=True, indent=1) + "\n").encode()


def guarded_paths(paths: GuardianPaths) -> list[str]:
    """Every path under the guarded roots, the roots included, sorted; links not followed."""
    out: list[str] = []
    for root in paths.guarded_roots:
        if not root.is_dir() or root.is_symlink():
            if os.path.lexists(root):
                out.append(paths.rel(root))
            continue
        out.append(paths.rel(root))
        for dirpath, dirnames, filenames in os.walk(root):
            base = Path(dirpath)
            for name in sorted(dirnames + filenames):
                out.append(paths.rel(base / name))
    return sorted(out)


def observed_immutability(immutable: bool | None, mode: int) -> Immutability:
    if immutable:
        return "chattr"
    if not mode & WRITE_BITS:
        return "readonly"
    return "none"


def build_baseline(paths: GuardianPaths, *, snapshot: str | None = None,
                   original_modes: Mapping[str, int] | None = None,
                   databases: list[dict[str, Any]] | None = None,
                   established_by: str = "lockdown", clock: Clock = SYSTEM_CLOCK,
                   on_file: Callable[[str, int], None] | None = None) -> Baseline:
    """Observe and hash every guarded path as it is now (after immutability was applied)."""
    original_modes = original_modes or {}
    entries: list[GuardedEntry] = []
    for rel in guarded_paths(paths):
        obs = observe(paths.root, rel, read_flag=True)
        if obs is None:  # removed while we walked: nothing to guard there
            continue
        if obs.type == "other":
            raise IntegrityError(f"{rel} is not a regular file, folder or symlink; "
                                 "a snapshot tree must not contain one", path=rel)
        sha = None
        if obs.type == "file":
            sha, size = hash_file(paths.root / rel)
            if on_file is not None:
                on_file(rel, size)
        elif obs.type == "symlink" and obs.target is not None:
            sha = hashlib.sha256(os.fsencode(obs.target)).hexdigest()
        entries.append(GuardedEntry(
            rel, obs.type, obs.size, obs.mode, obs.mtime_ns, obs.uid, obs.gid,
            observed_immutability(obs.immutable, obs.mode) if obs.type != "symlink" else "none",
            sha, obs.target, original_modes.get(rel)))
    roots = {paths.rel(r): r.exists() for r in paths.guarded_roots}
    return Baseline(utc_iso(clock.now()), snapshot, roots, entries, databases or [],
                    established_by)


def write_baseline(path: str | Path, baseline: Baseline) -> str:
    """Write atomically with mode 0600; return the sha256 of the bytes written."""
    path = Path(path)
    data = canonical_bytes(baseline)
    atomic_write(path, data, mode=0o600)
    return hashlib.sha256(data).hexdigest()


def load_baseline(path: str | Path) -> tuple[Baseline, str]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no guardian baseline at {path}; run vvtvctl lockdown first",
                         path=path) from None
    try:
        baseline = Baseline.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"guardian baseline {path} is unreadable: {exc}", path=path) from exc
    return baseline, hashlib.sha256(data).hexdigest()
