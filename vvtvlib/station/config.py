"""``system/configs/station.toml``: the station's own settings (validated, typed)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from vvtvlib.core.config import Section, load_config
from vvtvlib.core.layout import StationLayout

Profile = Literal["embedded", "nginx-rtmp"]
PROFILES: tuple[str, ...] = ("embedded", "nginx-rtmp")


class StationSection(Section):
    id: str = "vvtv-lab"
    name: str = "VVTV Lab"
    profile: Profile = "embedded"
    seed: int = 1


class MediaSection(Section):
    items: int = 6
    clip_seconds: int = 30
    width: int = 320
    height: int = 180
    fps: int = 15
    crf: int = 30
    segment_s: int = 2  # HLS segment length = GOP length of the mezzanines


class HlsSection(Section):
    list_size: int = 10
    playlist: str = "main.m3u8"


class HttpSection(Section):
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port is chosen at every start
    nginx_http_port: int = 0
    nginx_rtmp_port: int = 0


class WorkersSection(Section):
    planner_interval_s: float = 4.0
    realizer_interval_s: float = 2.0
    discovery_interval_s: float = 6.0
    realizer_job_s: float = 2.0
    queue_target_s: int = 3900
    renditions_keep: int = 12


class StationConfig(Section):
    station: StationSection = StationSection()
    media: MediaSection = MediaSection()
    hls: HlsSection = HlsSection()
    http: HttpSection = HttpSection()
    workers: WorkersSection = WorkersSection()


def station_toml(layout: StationLayout) -> Path:
    return layout.configs / "station.toml"


def load_station_config(layout: StationLayout, overrides: list[str] | None = None
                        ) -> StationConfig:
    return load_config(StationConfig, station_toml(layout), overrides)
