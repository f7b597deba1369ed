"""A frozen view of the station for the archive writer, built without copying media.

The archives' members are paths relative to the station root, and the live trees keep
moving while the ritual runs (HLS segments rotate, playlists are rewritten, logs grow). So
the ritual builds ``<snapshot>/.stage/`` first:

* databases: consistent copies through SQLite's backup API plus ``schema.sql``;
* media and HLS segments: hard links (no data pass; a deleted original stays readable), with
  a copy only when the vault is on another filesystem;
* playlists and the playout log: copied up to their last complete line;
* ``system/versions.json``: versions and commit ids written for the archive.

``storage/cache``, ``storage/tmp``, ``system/run`` and ``system/logs`` are never staged.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vvtvlib.core.layout import StationLayout

if TYPE_CHECKING:
    from .telemetry import ToolVersions

COPIED_SUFFIXES = (".m3u8", ".jsonl", ".json", ".txt", ".toml")
SKIPPED_SUFFIXES = (".tmp", ".part", ".partial")
SYSTEM_TREES = ("configs", "bin")


@dataclass
class StageStats:
    linked: int = 0
    copied: int = 0
    copied_bytes: int = 0
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"linked": self.linked, "copied": self.copied, "copied_bytes": self.copied_bytes,
                "skipped": len(self.skipped)}


def _mkdirs(src_root: Path, stage: Path, rel: Path) -> None:
    """Create ``stage/rel``'s folders with the modes of the live ones."""
    built = Path()
    for part in rel.parts:
        built = built / part
        target = stage / built
        if not target.exists():
            target.mkdir()
            src = src_root / built
            if src.is_dir():
                os.chmod(target, os.stat(src).st_mode & 0o7777)


def _link_or_copy(src: Path, dst: Path, stats: StageStats) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
        stats.linked += 1
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(src, dst, follow_symlinks=False)
        stats.copied += 1
        stats.copied_bytes += dst.stat().st_size


def _copy_complete_lines(src: Path, dst: Path, stats: StageStats) -> None:
    """Copy a file that another process appends to or rewrites, up to its last newline."""
    data = src.read_bytes()
    if b"\n" in data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    dst.write_bytes(data)
    os.chmod(dst, os.stat(src).st_mode & 0o7777)
    stats.copied += 1
    stats.copied_bytes += len(data)


def stage_file(root: Path, stage: Path, rel: str, stats: StageStats) -> bool:
    """Put ``root/rel`` at ``stage/rel``; False when it vanished meanwhile."""
    src, dst = root / rel, stage / rel
    _mkdirs(root, stage, Path(rel).parent)
    try:
        if src.suffix in COPIED_SUFFIXES:
            _copy_complete_lines(src, dst, stats)
        else:
            _link_or_copy(src, dst, stats)
    except FileNotFoundError:
        stats.skipped.append(rel)
        return False
    return True


def _files_under(root: Path, rel_dir: str) -> list[str]:
    base = root / rel_dir
    if not base.is_dir():
        return []
    out = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if name.endswith(SKIPPED_SUFFIXES) or name.startswith(".") or not full.is_file():
                continue
            out.append(full.relative_to(root).as_posix())
    return out


def _playlist_uris(text: str) -> set[str]:
    return {ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")}


def stage_broadcast(layout: StationLayout, stage: Path, stats: StageStats) -> list[str]:
    """Playlists and logs first (copied), then only the segments they name (linked): a
    segment being written or already rotated out is not part of the frozen view."""
    root = layout.root
    files = _files_under(root, "broadcast")
    members: list[str] = []
    referenced: set[str] = set()
    for rel in files:
        if Path(rel).suffix in COPIED_SUFFIXES and stage_file(root, stage, rel, stats):
            members.append(rel)
            if rel.endswith(".m3u8"):
                parent = Path(rel).parent
                for uri in _playlist_uris((stage / rel).read_text(errors="replace")):
                    if "://" not in uri:
                        referenced.add((parent / uri.split("?", 1)[0]).as_posix())
    for rel in files:
        if Path(rel).suffix in COPIED_SUFFIXES:
            continue
        # segments not named by a playlist are in flight; init segments and others are kept
        if _looks_like_segment(rel) and rel not in referenced:
            stats.skipped.append(rel)
            continue
        if stage_file(root, stage, rel, stats):
            members.append(rel)
    return sorted(members)


def _looks_like_segment(rel: str) -> bool:
    return Path(rel).suffix in (".ts", ".m4s", ".aac", ".mp4") and "init" not in Path(rel).name


def stage_ready(layout: StationLayout, stage: Path, stats: StageStats,
                sample: int | None = None, prefer: Sequence[str] = ()) -> list[str]:
    """All of ``storage/ready``, or a rehearsal sample: the ``prefer`` files (the clip on
    air) first, then the smallest others, ``sample`` files in all."""
    files = _files_under(layout.root, "storage/ready")
    if sample is not None:
        first = [f for f in prefer if f in files]
        rest = sorted((f for f in files if f not in first),
                      key=lambda f: ((layout.root / f).stat().st_size, f))
        files = sorted((first + rest)[:sample])
    return [rel for rel in files if stage_file(layout.root, stage, rel, stats)]


def stage_system(layout: StationLayout, stage: Path, stats: StageStats,
                 versions: ToolVersions, *, configs_only: bool = False) -> list[str]:
    members: list[str] = []
    for tree in ("configs",) if configs_only else SYSTEM_TREES:
        for rel in _files_under(layout.root, f"system/{tree}"):
            if stage_file(layout.root, stage, rel, stats):
                members.append(rel)
    target = stage / "system" / "versions.json"
    _mkdirs(layout.root, stage, Path("system"))
    target.write_text(json.dumps(versions.to_dict(), indent=2, sort_keys=True) + "\n")
    os.chmod(target, 0o644)
    members.append("system/versions.json")
    return sorted(members)


def stage_databases(layout: StationLayout, stage: Path) -> list[str]:
    from vvtvlib.vault.sqlite import snapshot_databases

    return snapshot_databases(layout.data, stage)
