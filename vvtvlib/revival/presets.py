"""Encoder preset adaptation when the new node's FFmpeg differs from the recorded one.

Pure: given the restored encoder settings, the FFmpeg version the manifest recorded and what
this node's FFmpeg offers, return adapted settings and a list of changes. Rules, in order:

1. the codec must be an encoder this FFmpeg has; otherwise the first available of an
   H.264-first fallback chain (so HLS players keep working);
2. the preset must be one the codec knows; otherwise the nearest by speed
   (x264/x265 order), or none for codecs without presets;
3. the profile must be one the codec knows; otherwise ``main`` or none;
4. when the version differs at all, settings that defaulted are pinned to explicit values
   (pixel format, profile), because defaults move between FFmpeg/x264 releases and a changed
   default (for example 4:4:4 chroma from an RGB test source) breaks players and continuity.

A version divergence with nothing else to change still pins the defaults, so the operator
sees exactly what the new node will encode with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")
KNOWN_PRESETS: dict[str, tuple[str, ...]] = {"libx264": X264_PRESETS, "libx265": X264_PRESETS}
KNOWN_PROFILES: dict[str, tuple[str, ...]] = {
    "libx264": ("baseline", "main", "high", "high10", "high422", "high444"),
    "libx265": ("main", "main10", "mainstillpicture"),
    "libopenh264": ("constrained_baseline", "main", "high"),
}
FALLBACK_CODECS = ("libx264", "libopenh264", "h264_v4l2m2m", "mpeg4")
PINNED_DEFAULTS: dict[str, dict[str, str]] = {
    "libx264": {"pix_fmt": "yuv420p", "profile": "main"},
    "libx265": {"pix_fmt": "yuv420p", "profile": "main"},
    "libopenh264": {"pix_fmt": "yuv420p"},
    "mpeg4": {"pix_fmt": "yuv420p"},
}


@dataclass(frozen=True)
class EncoderCaps:
    version: str | None
    encoders: frozenset[str]


@dataclass(frozen=True)
class Change:
    key: str
    recorded: Any
    adapted: Any
    reason: str


@dataclass
class Adaptation:
    settings: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    version_diverged: bool = False
    recorded_version: str | None = None
    node_version: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "changes": [asdict(c) for c in self.changes],
                "version_diverged": self.version_diverged,
                "recorded_version": self.recorded_version, "node_version": self.node_version}


def same_version(a: str | None, b: str | None) -> bool:
    """Versions compare on their release part (``n7.1-3-gabc`` ~ ``7.1``)."""
    def norm(v: str | None) -> str:
        return (v or "").strip().lstrip("nN").split("-", 1)[0].split(" ", 1)[0]
    return norm(a) == norm(b)


def _nearest_preset(wanted: str | None, offered: tuple[str, ...]) -> str | None:
    if not offered:
        return None
    if wanted in X264_PRESETS:
        pos = X264_PRESETS.index(wanted)
        ranked = sorted((p for p in offered if p in X264_PRESETS),
                        key=lambda p: abs(X264_PRESETS.index(p) - pos))
        if ranked:
            return ranked[0]
    return "veryfast" if "veryfast" in offered else offered[0]


def adapt_encoder(settings: Mapping[str, Any], recorded_version: str | None,
                  caps: EncoderCaps, *, codec_key: str = "codec") -> Adaptation:
    out = dict(settings)
    changes: list[Change] = []
    diverged = not same_version(recorded_version, caps.version)

    codec = out.get(codec_key) or "libx264"
    if codec not in caps.encoders:
        replacement = next((c for c in FALLBACK_CODECS if c in caps.encoders), None)
        if replacement is not None:
            changes.append(Change(codec_key, codec, replacement,
                                  f"encoder {codec} is not available in FFmpeg {caps.version}"))
            codec = replacement
            out[codec_key] = codec

    offered = KNOWN_PRESETS.get(codec, ())
    preset = out.get("preset")
    if preset is not None and preset not in offered:
        adapted = _nearest_preset(preset, offered)
        changes.append(Change("preset", preset, adapted,
                              f"{codec} has no preset {preset!r}" if offered
                              else f"{codec} takes no preset"))
        if adapted is None:
            out.pop("preset", None)
        else:
            out["preset"] = adapted

    profiles = KNOWN_PROFILES.get(codec, ())
    profile = out.get("profile")
    if profile is not None and profile not in profiles:
        adapted = "main" if "main" in profiles else None
        changes.append(Change("profile", profile, adapted,
                              f"{codec} has no profile {profile!r}"))
        if adapted is None:
            out.pop("profile", None)
        else:
            out["profile"] = adapted

    if diverged:
        for key, value in PINNED_DEFAULTS.get(codec, {}).items():
            if out.get(key) in (None, ""):
                changes.append(Change(key, None, value,
                                      f"pinned: FFmpeg {caps.version} differs from the recorded "
                                      f"{recorded_version} and its default may differ"))
                out[key] = value
    return Adaptation(out, changes, diverged, recorded_version, caps.version)
