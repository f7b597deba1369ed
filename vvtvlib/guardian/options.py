"""Guardian settings: ``system/configs/sleepguard.toml`` (all optional), then the command line."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vvtvlib.core.config import Section, load_config
from vvtvlib.core.layout import StationLayout

GiB = 1 << 30


class GuardianOptions(Section):
    interval_s: float = Field(default=900.0, ge=0,
                              description="seconds between cycles (seed: 15 min)")
    sample: int = Field(default=16, ge=1, description="re-hash 1/N of the files per cycle")
    byte_budget: int = Field(default=4 * GiB, ge=0,
                             description="bytes re-hashed per cycle at most (0 = no limit); "
                                         "the first file of a slice is always hashed")
    min_free_pct: float = Field(default=10.0, ge=0, le=100,
                                description="free disk under vault/ below this is a divergence")
    watch: bool = Field(default=True, description="watch guarded folders for writes between cycles")


def config_path(layout: StationLayout) -> Path:
    return layout.configs / "sleepguard.toml"


def load_options(layout: StationLayout, overrides: list[str] | None = None) -> GuardianOptions:
    return load_config(GuardianOptions, config_path(layout), overrides)
