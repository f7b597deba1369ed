"""The guardian's values: what a guarded path should look like, what was seen, what diverged.

Paths are relative to the station root (``vault/snapshots/<stamp>/last_manifest.json``) so a
baseline and a report read the same on any host. In memory they are ``str`` as the OS gives
them (``surrogateescape``: a name that is not UTF-8 keeps its bytes); in a report line or a
sentence they are shown with ``display_path`` (undecodable bytes as ``\\xNN``) and such a
record also carries the exact bytes as ``path_hex``, so no name can make a line unwritable.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from vvtvlib.core.evidence import writable_text

Immutability = Literal["chattr", "readonly", "none"]
IMMUTABILITY_KINDS: tuple[str, ...] = ("chattr", "readonly", "none")

# Divergence kinds, in the order a report lists them.
KINDS = ("missing", "new", "type", "content", "size", "mtime", "mode", "owner", "flag",
         "unreadable", "disk", "write_event")


def display_path(path: str) -> str:
    """``path`` as text that always encodes: bytes that are not UTF-8 become ``\\xNN``."""
    return writable_text(path)


def _shown(value: Any) -> Any:
    return display_path(value) if isinstance(value, str) else value


def path_record(path: str) -> dict[str, str]:
    """``{"path": shown}``, plus ``path_hex`` (the name's exact bytes) when it is not UTF-8."""
    shown = display_path(path)
    if shown == path:
        return {"path": shown}
    try:
        return {"path": shown, "path_hex": os.fsencode(path).hex()}
    except UnicodeEncodeError:  # not from a file name: no exact bytes to give
        return {"path": shown}


@dataclass(frozen=True)
class GuardedEntry:
    """One path as it must stay while the station hibernates."""

    path: str
    type: str  # "file", "dir" or "symlink"
    size: int
    mode: int  # permission bits
    mtime_ns: int
    uid: int
    gid: int
    immutability: Immutability
    sha256: str | None = None  # files only (of the link target for a symlink)
    target: str | None = None  # symlinks only
    original_mode: int | None = None  # before lockdown made it read-only (resume restores it)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mode"] = f"{self.mode:04o}"
        if self.original_mode is not None:
            out["original_mode"] = f"{self.original_mode:04o}"
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuardedEntry:
        om = data.get("original_mode")
        return cls(path=data["path"], type=data["type"], size=int(data["size"]),
                   mode=int(str(data["mode"]), 8), mtime_ns=int(data["mtime_ns"]),
                   uid=int(data["uid"]), gid=int(data["gid"]),
                   immutability=data["immutability"], sha256=data.get("sha256"),
                   target=data.get("target"),
                   original_mode=int(str(om), 8) if om is not None else None)


@dataclass(frozen=True)
class Observed:
    """What one ``lstat`` (plus the flags ioctl where expected) saw."""

    path: str
    type: str
    size: int
    mode: int
    mtime_ns: int
    uid: int
    gid: int
    immutable: bool | None = None  # None: not read (not expected, or unsupported)
    target: str | None = None


@dataclass(frozen=True)
class Divergence:
    path: str
    kind: str
    expected: Any = None
    actual: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {**path_record(self.path), "kind": self.kind, "expected": _shown(self.expected),
                "actual": _shown(self.actual)}

    def sentence(self) -> str:
        return (f"{display_path(self.path)}: {self.kind} (expected {_shown(self.expected)}, "
                f"found {_shown(self.actual)})")


@dataclass
class CycleReport:
    """One guardian cycle: the line appended to ``vault/sleepguard_report.jsonl``."""

    cycle: int
    files_stated: int
    files_hashed: int
    bytes_hashed: int
    duration_s: float
    coverage: float
    sample: int
    disk_free_pct: float
    budget_exhausted: bool = False
    interrupted: bool = False
    hashed: list[str] = field(default_factory=list)
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def alert(self) -> bool:
        return bool(self.divergences)

    def to_record(self) -> dict[str, Any]:
        return {"type": "cycle", "cycle": self.cycle, "alert": self.alert,
                "files_stated": self.files_stated, "files_hashed": self.files_hashed,
                "bytes_hashed": self.bytes_hashed, "duration_s": round(self.duration_s, 6),
                "coverage": round(self.coverage, 6), "sample": self.sample,
                "disk_free_pct": round(self.disk_free_pct, 3),
                "budget_exhausted": self.budget_exhausted, "interrupted": self.interrupted,
                "divergences": [d.to_dict() for d in self.divergences]}


@dataclass
class WatchAlert:
    """A write seen by the watcher between cycles: raised at once, not at the next cycle."""

    after_cycle: int
    divergences: list[Divergence]

    def to_record(self) -> dict[str, Any]:
        return {"type": "watch", "cycle": self.after_cycle, "alert": True,
                "divergences": [d.to_dict() for d in self.divergences]}
