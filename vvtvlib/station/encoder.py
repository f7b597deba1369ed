"""What the station encodes with (realizer renditions), from ``system/configs/encoder.toml``.

A revival on a node whose FFmpeg differs rewrites this file with adapted settings
(``vvtvlib.revival.presets``); the realizer reads it for every job, so the adaptation is
what the station really runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from vvtvlib.core.config import read_toml, validate
from vvtvlib.core.layout import StationLayout

ENCODER_TOML = "encoder.toml"


class EncoderSettings(BaseModel):
    """The ``[encoder]`` table: codec, preset, tune, pixel format, profile. Keys this tool
    does not use are kept (a revival writes them back)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    codec: str = "libx264"
    preset: str | None = "ultrafast"
    tune: str | None = "zerolatency"
    pix_fmt: str | None = "yuv420p"
    profile: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The table as written to ``encoder.toml`` (unset keys left out)."""
        return self.model_dump(exclude_none=True)


DEFAULT_ENCODER = EncoderSettings()


def encoder_settings_path(layout: StationLayout) -> Path:
    return layout.configs / ENCODER_TOML


def load_encoder_settings(layout: StationLayout) -> EncoderSettings:
    path = encoder_settings_path(layout)
    if not path.is_file():
        return DEFAULT_ENCODER
    data = read_toml(path)  # not UTF-8 or not TOML: ConfigError naming the file
    return validate(EncoderSettings, data.get("encoder", {}), source=path)


def encoder_args(settings: EncoderSettings) -> list[str]:
    """FFmpeg output options for these settings (codec first, then what it accepts)."""
    args = ["-c:v", settings.codec or DEFAULT_ENCODER.codec]
    for value, flag in ((settings.preset, "-preset"), (settings.tune, "-tune"),
                        (settings.profile, "-profile:v"), (settings.pix_fmt, "-pix_fmt")):
        if value:
            args += [flag, str(value)]
    return args


def preset_label(settings: EncoderSettings) -> str:
    return "-".join(str(v) for v in (settings.codec, settings.preset, settings.profile) if v)
