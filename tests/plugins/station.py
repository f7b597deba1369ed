"""Fixtures that provision and run real lab stations (FFmpeg, SQLite, HTTP on 127.0.0.1).

* ``clip_cache``: a folder of encoded mezzanines shared by every test of the session (and
  kept in pytest's cache dir between runs); clips are keyed by their full spec and the
  FFmpeg build, so a cached clip is byte-identical to a fresh encode.
* ``station_factory(profile="embedded", size_mb=0, up=True, ...)``: provisions a tiny
  station in ``tmp_path`` and, unless ``up=False``, brings it up on free ports; every
  station it made is brought down at teardown.
* ``station``: one embedded station, up and broadcasting.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vvtvlib.core.layout import StationLayout
from vvtvlib.station.control import StationStatus, status
from vvtvlib.station.provision import init_station
from vvtvlib.station.supervisor import station_down, station_up

# Small enough to encode in about a second, long enough for several 2 s segments per item.
TINY = {"items": 3, "clip_seconds": 20}


@dataclass
class LabStation:
    layout: StationLayout
    info: dict[str, Any]

    @property
    def root(self) -> Path:
        return self.layout.root

    def up(self, timeout_s: float = 60, ingest: bool = True) -> StationStatus:
        return station_up(self.layout, timeout_s=timeout_s, ingest=ingest)

    def down(self, timeout_s: float = 30) -> dict[str, Any]:
        return station_down(self.layout, timeout_s=timeout_s)

    def status(self) -> StationStatus:
        return status(self.layout)


def need_rtmp() -> None:
    """nginx with the RTMP module, or skip (fail under VVTV_REQUIRE_SYSTEM=1)."""
    from tests.plugins.system import need, need_tool
    from vvtvlib.core.errors import DependencyMissing
    from vvtvlib.station.nginx import rtmp_module

    need_tool("nginx")
    try:
        rtmp_module()
        ok = True
    except DependencyMissing:
        ok = False
    need(ok, "the nginx RTMP module (libnginx-mod-rtmp)")


@pytest.fixture(scope="session")
def clip_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Path:
    if os.environ.get("VVTV_CLIP_CACHE"):
        path = Path(os.environ["VVTV_CLIP_CACHE"])
        path.mkdir(parents=True, exist_ok=True)
        return path
    try:
        return Path(request.config.cache.mkdir("vvtv-clips"))  # type: ignore[union-attr]
    except (AttributeError, OSError):
        return tmp_path_factory.mktemp("vvtv-clips")


@pytest.fixture
def station_factory(tmp_path: Path, clip_cache: Path) -> Iterator[Callable[..., LabStation]]:
    made: list[LabStation] = []

    def make(profile: str = "embedded", size_mb: int = 0, *, up: bool = True,
             ingest: bool = True, name: str | None = None, timeout_s: float = 60,
             **init_kwargs: Any) -> LabStation:
        if profile == "nginx-rtmp":
            need_rtmp()
        root = tmp_path / (name or f"station-{len(made) + 1}")
        kwargs = {**TINY, **init_kwargs}
        info = init_station(root, profile=profile, size_mb=size_mb, clip_cache=clip_cache,
                            **kwargs)
        lab = LabStation(StationLayout.at(root), info)
        made.append(lab)
        if up:
            lab.up(timeout_s=timeout_s, ingest=ingest)
        return lab

    yield make
    for lab in made:
        with contextlib.suppress(Exception):  # teardown must reach every station
            station_down(lab.layout, timeout_s=15)


@pytest.fixture
def station(station_factory: Callable[..., LabStation]) -> LabStation:
    return station_factory()
