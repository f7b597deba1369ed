"""Restore: every archive through the vault's safe extractor into one staging root beside the
target, the content gate on the staged trees, then one move into the target.

Staging beside the target (``<parent>/.<name>.revive-<pid>``, same filesystem) means a
refusal at any point (unsafe member, hash mismatch, blocklisted content) leaves the target
exactly as it was: the staged trees are dropped and a target that did not exist is never
created. The records of all archives are checked as one snapshot before a byte is
decompressed (declared roots, no overlap, nothing under ``vault/``, every symlink resolving
inside the roots without passing through another), and every archive is extracted beneath
one descriptor of the staging root without following any link, so no archive can write
through a link another created. The archives were hashed in the verify phase and are hashed
again as they are decompressed (a swap in between is refused); the extractor checks every
member's type, size, mode and sha256 against the signed manifest as it writes it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import IntegrityError, UsageError
from vvtvlib.core.fsio import fsync_dir, sync_filesystem
from vvtvlib.media.sampling import DEFAULT_SAMPLING, SamplingPolicy
from vvtvlib.vault.beneath import StagingTree
from vvtvlib.vault.members import check_plan
from vvtvlib.vault.restore import Expected, RestoreProgress, extract_to_staging

from .blocklist import (
    Blocklist,
    ContentScan,
    match_files,
    match_frames,
    refuse_if_matched,
    scan_content,
)
from .verify import VerifiedSnapshot

# Restore order follows the seed: system, then databases, then media and HLS.
ORDER = ("snapshot_system.tar.zst", "snapshot_db.tar.zst", "snapshot_data.tar.zst")
# Trees no archive may restore: the trust anchor, lineage and manifests are the target's own.
RESERVED = ("vault",)


@dataclass
class StagedRestore:
    staging: Path
    archives: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0
    bytes: int = 0


def staging_root(target: Path) -> Path:
    return target.parent / f".{target.name}.revive-{os.getpid()}"


def archive_order(names: list[str]) -> list[str]:
    known = [n for n in ORDER if n in names]
    return known + sorted(n for n in names if n not in known)


def restore_to_staging(snapshots: Path, verified: VerifiedSnapshot, staging: Path,
                       progress: Callable[[RestoreProgress], None] | None = None
                       ) -> StagedRestore:
    if staging.exists():
        remove_tree(staging)
    staging.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir(mode=0o700)
    out = StagedRestore(staging)
    archives = verified.manifest.archives
    names = archive_order(list(archives))
    exps = [(snapshots / name, Expected.of(archives[name], name)) for name in names]
    plan = check_plan(exps, reserved=RESERVED)
    with StagingTree(staging) as tree:
        for path, exp in exps:
            files, nbytes = extract_to_staging(path, exp, tree, plan=plan, observer=progress)
            out.archives.append({"archive": exp.name, "files": files, "bytes": nbytes,
                                 "roots": exp.roots})
            out.files += files
            out.bytes += nbytes
    os.chmod(staging, 0o755)
    return out


# ---------------------------------------------------------------- content gate


def content_gate(staging: Path, verified: VerifiedSnapshot, blocklist: Blocklist,
                 snapshots: Path, *, policy: SamplingPolicy = DEFAULT_SAMPLING
                 ) -> dict[str, Any]:
    """Refuse (``ContentBlocked``) when any restored file or sampled frame is blocklisted:
    every file by its manifest sha256; media, found by content, by sampled frames."""
    files = [(f.path, f.sha256 or "") for a in verified.manifest.archives.values()
             for f in a.files if f.type == "file"]
    files += [(name, a.sha256) for name, a in verified.manifest.artifacts.items()]
    matches = match_files(blocklist, files)
    scan = ContentScan()
    if not matches and blocklist.phash:
        scan = scan_content(staging, extra=[("final_frame.jpg", snapshots / "final_frame.jpg")],
                            policy=policy)
        matches = match_frames(blocklist, scan.frames)
    refuse_if_matched(matches)
    return {"files_checked": len(files), **scan.to_dict(), "sampling": policy.to_dict(),
            "sha256_entries": len(blocklist.sha256), "phash_entries": len(blocklist.phash),
            "sources": blocklist.sources}


# ---------------------------------------------------------------- into the target


def move_into_target(staging: Path, target: Path, *, target_existed: bool, stamp: str
                     ) -> dict[str, Any]:
    """Rename the staged root into place; merge into an existing (prepared or forced) target,
    moving any file it replaces to ``<target>/.displaced-<stamp>/`` rather than deleting it."""
    # The staged files must be on disk before they become the station: a power cut after
    # the report says "restored" must not leave truncated databases behind.
    sync_filesystem(staging)
    if not target_existed:
        if target.exists():
            raise UsageError(f"target {target} appeared during the revival", path=target)
        os.rename(staging, target)
        fsync_dir(target.parent)
        return {"mode": "renamed", "displaced": []}
    displaced_root = target / f".displaced-{stamp}"
    displaced: list[str] = []

    def merge(src: Path, dst: Path, rel: str) -> None:
        for child in sorted(src.iterdir()):
            crel = f"{rel}/{child.name}" if rel else child.name
            dest = dst / child.name
            if not os.path.lexists(dest):
                os.rename(child, dest)
            elif dest.is_dir() and not dest.is_symlink() and child.is_dir():
                merge(child, dest, crel)
            else:
                aside = displaced_root / crel
                aside.parent.mkdir(parents=True, exist_ok=True)
                os.rename(dest, aside)
                os.rename(child, dest)
                displaced.append(crel)

    merge(staging, target, "")
    fsync_dir(target)
    remove_tree(staging)
    return {"mode": "merged", "displaced": displaced[:50],
            "displaced_folder": str(displaced_root) if displaced else None}


def remove_tree(path: Path) -> None:
    if not os.path.lexists(path):
        return
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if not os.path.islink(full):
                os.chmod(full, 0o700)
    shutil.rmtree(path)


# ---------------------------------------------------------------- schema migrations


def split_schema(text: str) -> dict[str, list[str]]:
    """``schema.sql`` as written by the vault: ``-- <db name>`` headers, one statement each."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    buf = ""
    for line in text.splitlines():
        if line.startswith("-- ") and not buf:
            current = out.setdefault(line[3:].strip(), [])
            continue
        if current is None or not line.strip():
            continue
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            current.append(buf.strip())
            buf = ""
    return out


def _object_name(statement: str) -> tuple[str, str] | None:
    words = statement.replace("(", " ").split()
    upper = [w.upper() for w in words]
    if len(words) < 3 or upper[0] != "CREATE":
        return None
    i = 1
    if upper[i] in ("TEMP", "TEMPORARY"):
        i += 1
    if upper[i] == "UNIQUE":
        i += 1
    kind = upper[i].lower()
    i += 1
    if upper[i:i + 3] == ["IF", "NOT", "EXISTS"]:
        i += 3
    if i >= len(words):
        return None
    return kind, words[i].strip('"`[]')


def migrate_from_schema(data_dir: Path) -> list[dict[str, str]]:
    """Create what ``schema.sql`` declares but a restored database lacks (a newer schema)."""
    schema = data_dir / "schema.sql"
    if not schema.is_file():
        return []
    applied = []
    for db_name, statements in split_schema(schema.read_text(encoding="utf-8")).items():
        db = data_dir / db_name
        if not db.is_file():
            continue
        with closing(sqlite3.connect(db, isolation_level=None)) as conn:
            have = {(r[0], r[1]) for r in conn.execute("SELECT type, name FROM sqlite_master")}
            for stmt in statements:
                obj = _object_name(stmt)
                if obj is None or obj in have:
                    continue
                try:
                    conn.execute(stmt)
                except sqlite3.DatabaseError as exc:
                    raise IntegrityError(f"{db}: migration from schema.sql failed on "
                                         f"{obj[0]} {obj[1]}: {exc}", path=db) from exc
                applied.append({"database": db_name, "kind": obj[0], "name": obj[1]})
    return applied
