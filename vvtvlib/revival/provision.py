"""Provision: is this node able to take the station? Nothing is written here.

Checks the tools (FFmpeg and SQLite always, nginx for the nginx-rtmp profile; minisign as an
optional second opinion on the signature), the target folder (absent, empty, or holding only
what an operator prepares on a new node: trusted keys, history, blocklist) and the free
space the restore needs (it stages beside the target, on the same filesystem, then renames).
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import DependencyMissing, UsageError
from vvtvlib.vault.schema import Manifest

# What may already be in a target without --force: the new node's own trust material.
PREPARED = ("vault/keys/trusted", "vault/history", "vault/blocklist.json")
SPACE_MARGIN = 1.05
SPACE_SLACK = 64 << 20


@dataclass
class TargetState:
    path: Path
    exists: bool
    foreign: list[str] = field(default_factory=list)  # entries beyond the prepared ones
    prepared: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.foreign

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "exists": self.exists, "foreign": self.foreign[:20],
                "prepared": self.prepared}


def _is_prepared(rel: str) -> bool:
    return any(rel == p or rel.startswith(p + "/") for p in PREPARED)


def _is_prepared_parent(rel: str) -> bool:
    return any(p.startswith(rel + "/") for p in PREPARED)


def inspect_target(target: Path) -> TargetState:
    if not target.exists():
        return TargetState(target, False)
    if not target.is_dir():
        raise UsageError(f"target {target} exists and is not a folder", path=target)
    state = TargetState(target, True)

    def visit(folder: Path, rel: str) -> None:
        for child in sorted(folder.iterdir()):
            crel = f"{rel}/{child.name}" if rel else child.name
            if _is_prepared(crel):
                state.prepared.append(crel)
            elif child.is_dir() and not child.is_symlink() and _is_prepared_parent(crel):
                visit(child, crel)
            else:
                state.foreign.append(crel)

    visit(target, "")
    return state


def existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists():
        p = p.parent
    return p


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(existing_ancestor(path)).free


def needed_bytes(manifest: Manifest) -> int:
    """Bytes the restored trees take (the sum of every archived file's size)."""
    total = 0
    for archive in manifest.archives.values():
        total += sum(f.size for f in archive.files if f.type == "file")
    return int(total * SPACE_MARGIN) + SPACE_SLACK


@dataclass
class ToolReport:
    versions: dict[str, str | None]
    missing_optional: list[str]


def node_versions(profile: str) -> ToolReport:
    """Versions of this node's tools; a required tool that is missing raises."""
    import platform

    from vvtvlib import __version__
    from vvtvlib.media.ffmpeg import ffmpeg_exe, ffmpeg_version

    versions: dict[str, str | None] = {
        "vvtvlib": __version__, "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "ffmpeg": ffmpeg_version(ffmpeg_exe()),
    }
    missing: list[str] = []
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    versions["nginx"] = _nginx_version(nginx) if nginx else None
    if nginx is None:
        if profile == "nginx-rtmp":
            raise DependencyMissing("the snapshot's profile is nginx-rtmp but nginx is not "
                                    "installed on this node (apt-get install nginx "
                                    "libnginx-mod-rtmp)")
        missing.append("nginx")
    if shutil.which("minisign") is None:
        missing.append("minisign")
    return ToolReport(versions, missing)


def _nginx_version(exe: str) -> str | None:
    import subprocess

    try:
        proc = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10,
                              check=False)
    except OSError:
        return None
    text = proc.stderr.strip() or proc.stdout.strip()
    return text.split("/", 1)[1].split()[0] if "/" in text else (text or None)
