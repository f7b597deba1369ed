"""The three snapshot archives (seed M1 step 5) and the per-database table digests.

One pass over the data: the stage is made of hard links and consistent DB copies, and the
vault's writer hashes every file while it compresses it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vvtvlib.core.layout import StationLayout

from . import stage as staging
from .config import DATA_ARCHIVE, DB_ARCHIVE, SYSTEM_ARCHIVE, Snapshot
from .telemetry import ToolVersions

if TYPE_CHECKING:
    from vvtvlib.vault.schema import DatabaseModel
    from vvtvlib.vault.snapshot import ArchiveRecord
ARCHIVES = (DB_ARCHIVE, SYSTEM_ARCHIVE, DATA_ARCHIVE)
STAGE_DIR = ".stage"

Progress = Callable[[int, int, str], None]  # bytes done, bytes total, what


@dataclass
class SnapshotResult:
    archives: dict[str, ArchiveRecord] = field(default_factory=dict)
    databases: dict[str, DatabaseModel] = field(default_factory=dict)  # the manifest's
    wal_after_checkpoint: dict[str, int] = field(default_factory=dict)
    stage: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The snapshots step's detail (the evidence line and the journal)."""
        return {
            "archives": {n: {"size": r.size, "raw_bytes": r.raw_bytes, "level": r.level,
                             "files": sum(1 for e in r.files if e.type == "file"),
                             "seconds": round(r.seconds, 3), "sha256": r.sha256}
                         for n, r in self.archives.items()},
            "wal_bytes_after_checkpoint": self.wal_after_checkpoint,
            "stage": self.stage, "seconds": self.seconds,
        }


def wal_sizes(data_dir: Path) -> dict[str, int]:
    """Bytes pending in each live database's ``-wal`` file (0 when absent)."""
    out = {}
    for db in sorted(data_dir.glob("*.sqlite")):
        wal = db.with_name(db.name + "-wal")
        out[db.name] = wal.stat().st_size if wal.exists() else 0
    return out


def write_snapshots(layout: StationLayout, folder: Path, cfg: Snapshot, versions: ToolVersions,
                    *, dry_run: bool = False, sample_clips: list[str] | None = None,
                    progress: Progress | None = None) -> SnapshotResult:
    """Stage, archive, digest; the stage is removed whatever happens."""
    import time

    from vvtvlib.vault.schema import DatabaseModel
    from vvtvlib.vault.snapshot import ArchiveProgress, SnapshotPolicy, write_archive
    from vvtvlib.vault.sqlite import table_digests

    stage = folder / STAGE_DIR
    stage.mkdir()
    result = SnapshotResult()
    stats = staging.StageStats()
    try:
        t0 = time.perf_counter()
        db_members = staging.stage_databases(layout, stage)
        result.wal_after_checkpoint = wal_sizes(layout.data)
        sys_members = staging.stage_system(layout, stage, stats, versions, configs_only=dry_run)
        if dry_run:
            data_members = staging.stage_ready(layout, stage, stats,
                                               sample=cfg.dry_run_media_files,
                                               prefer=sample_clips or [])
        else:
            data_members = (staging.stage_ready(layout, stage, stats)
                            + staging.stage_broadcast(layout, stage, stats))
        result.stage = {**stats.to_dict(), "db_members": len(db_members),
                        "system_members": len(sys_members), "data_members": len(data_members)}
        result.seconds["stage"] = round(time.perf_counter() - t0, 3)
        plan = [(DB_ARCHIVE, ["data"], cfg.db_level),
                (SYSTEM_ARCHIVE, ["system"], cfg.system_level),
                (DATA_ARCHIVE, sorted(_roots(data_members)), cfg.data_level)]
        total = sum((stage / m).stat().st_size
                    for m in db_members + sys_members + data_members)
        base = 0

        def observe(p: ArchiveProgress) -> None:
            if progress is not None:
                progress(base + p.bytes_done, total, f"{p.archive}: {p.path}")

        policy = SnapshotPolicy()
        for name, roots, level in plan:
            if not roots:  # an empty data selection still yields a valid, empty archive
                (stage / "storage" / "ready").mkdir(parents=True, exist_ok=True)
                roots = ["storage/ready"]
            threads = cfg.threads or policy.thread_count(name)
            rec = write_archive(folder / name, stage, roots, level=level, threads=threads,
                                long=name == DB_ARCHIVE and cfg.db_long, observer=observe)
            result.archives[name] = rec
            result.seconds[name] = round(rec.seconds, 3)
            base += rec.raw_bytes
        t1 = time.perf_counter()
        for db in sorted((stage / "data").glob("*.sqlite")):
            result.databases[db.name] = DatabaseModel(tables=table_digests(db))
        result.seconds["table_digests"] = round(time.perf_counter() - t1, 3)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return result


def _roots(members: list[str]) -> set[str]:
    """The selectors for the data archive: ``storage/ready`` and ``broadcast`` when present,
    else the individual sampled files."""
    roots: set[str] = set()
    for m in members:
        if m.startswith("storage/ready/"):
            roots.add("storage/ready")
        elif m.startswith("broadcast/"):
            roots.add("broadcast")
        else:
            roots.add(m)
    return roots
