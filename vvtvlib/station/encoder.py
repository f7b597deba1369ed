"""What the station encodes with (realizer renditions), from ``system/configs/encoder.toml``.

A revival on a node whose FFmpeg differs rewrites this file with adapted settings
(``vvtvlib.revival.presets``); the realizer reads it for every job, so the adaptation is
what the station really runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vvtvlib.core.config import read_toml
from vvtvlib.core.layout import StationLayout

ENCODER_TOML = "encoder.toml"
DEFAULT_ENCODER: dict[str, Any] = {"codec": "libx264", "preset": "ultrafast",
                                   "tune": "zerolatency", "pix_fmt": "yuv420p"}


def encoder_settings_path(layout: StationLayout) -> Path:
    return layout.configs / ENCODER_TOML


def load_encoder_settings(layout: StationLayout) -> dict[str, Any]:
    path = encoder_settings_path(layout)
    if not path.is_file():
        return dict(DEFAULT_ENCODER)
    data = read_toml(path)  # not UTF-8 or not TOML: ConfigError naming the file
    return {**DEFAULT_ENCODER, **data.get("encoder", {})}


def encoder_args(settings: dict[str, Any]) -> list[str]:
    """FFmpeg output options for these settings (codec first, then what it accepts)."""
    args = ["-c:v", str(settings.get("codec") or DEFAULT_ENCODER["codec"])]
    for key, flag in (("preset", "-preset"), ("tune", "-tune"), ("profile", "-profile:v"),
                      ("pix_fmt", "-pix_fmt")):
        if settings.get(key):
            args += [flag, str(settings[key])]
    return args


def preset_label(settings: dict[str, Any]) -> str:
    return "-".join(str(settings[k]) for k in ("codec", "preset", "profile") if settings.get(k))
