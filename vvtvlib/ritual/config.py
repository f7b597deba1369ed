"""``system/configs/ritual.toml``: the ritual's thresholds, with the seed's values as defaults.

Every key can be overridden for one run with ``--set section.key=value``; the journal records
the values that were used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
from pydantic import Field

from vvtvlib.core.config import Section, load_config
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.snapshot import ArchiveLevel, SnapshotPolicy

DB_ARCHIVE = "snapshot_db.tar.zst"
SYSTEM_ARCHIVE = "snapshot_system.tar.zst"
DATA_ARCHIVE = "snapshot_data.tar.zst"


class Prechecks(Section):
    """Hard-stop thresholds (seed M1, step 1)."""

    queue_min_buffer_s: float = Field(default=3600, ge=0)
    encoder_stable_s: float = Field(default=60, ge=0)
    # "Stream ativo": the newest HLS segment must be this fresh for the stream to count as live.
    stream_max_segment_age_s: float = Field(default=30, gt=0)
    disk_free_min_pct: float = Field(default=15, ge=0, le=100)
    cpu_temp_max_c: float = Field(default=80, gt=0)


class Freeze(Section):
    wait_empty_timeout_s: float = Field(default=600, gt=0)
    poll_interval_s: float = Field(default=0.5, gt=0)


class FinalFrame(Section):
    grab_timeout_s: float = Field(default=60, gt=0)
    # Largest perceptual-hash distance (of 64 bits) between the live frame and the mezzanine
    # frame at the same (item, offset) for the final frame to count as reproducible.
    phash_max_distance: int = Field(default=10, ge=0, le=64)
    # A perceptual hash cannot tell t from t+2 s on slow content; the broadcaster copies the
    # mezzanine stream, so the same frame decodes to the same pixels (PSNR capped at 99 dB),
    # while a neighbouring frame scores 21-35 dB.
    psnr_min_db: float = Field(default=40.0, ge=0)
    vmaf: bool = True


def _policy(archive: str) -> ArchiveLevel:
    """The vault's measured setting for ``archive``: the one place the levels are decided."""
    return SnapshotPolicy().for_archive(archive)


class Snapshot(Section):
    # The seed archives with ``zstd -19``; the vault's measured policy is used instead
    # (``vvtvlib.vault.snapshot.SnapshotPolicy``, whose numbers are the defaults here):
    # mezzanines and HLS are already compressed, so -19 on them burns minutes for a fraction
    # of a percent, and the database archive is the writer's longest path, where level 3 was
    # 6 % smaller for 45 % more CPU. ``ritual.toml`` may still set other levels for one station.
    db_level: int = Field(default_factory=lambda: _policy(DB_ARCHIVE).level, ge=1, le=22)
    db_long: bool = Field(default_factory=lambda: _policy(DB_ARCHIVE).long)
    system_level: int = Field(default_factory=lambda: _policy(SYSTEM_ARCHIVE).level, ge=1,
                              le=22)
    data_level: int = Field(default_factory=lambda: _policy(DATA_ARCHIVE).level, ge=1, le=22)
    threads: int = Field(default=0, ge=0)
    dry_run_media_files: int = Field(default=2, ge=0)
    # Re-read every archive against the signed manifest before the folder is renamed.
    verify: bool = True


class Stop(Section):
    closing_bell: bool = False
    closing_bell_s: float = Field(default=5, gt=0, le=60)
    timeout_s: float = Field(default=60, gt=0)


class RitualConfig(Section):
    prechecks: Prechecks = Prechecks()
    freeze: Freeze = Freeze()
    final_frame: FinalFrame = FinalFrame()
    snapshot: Snapshot = Snapshot()
    stop: Stop = Stop()

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def config_path(layout: StationLayout) -> Path:
    return layout.configs / "ritual.toml"


def load_ritual_config(layout: StationLayout, overrides: list[str] | None = None
                       ) -> RitualConfig:
    """The station's ``ritual.toml`` (defaults when absent) with per-run overrides applied."""
    return load_config(RitualConfig, config_path(layout), overrides)


def default_ritual_toml() -> str:
    """The file a new station is provisioned with: the seed's thresholds."""
    return tomli_w.dumps(RitualConfig().as_dict())
