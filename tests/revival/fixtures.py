"""One real ritual snapshot per test session, shared by tests/revival and the M3 features.

A small lab station is provisioned, aired for a few seconds, put through the shutdown ritual
and locked down (read-only modes, no guardian): exactly what a new node receives after a
catastrophe. Tests copy the snapshot folder before tampering with it. The fixture is
memoised per process, so importing it into several modules still runs the ritual once.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from vvtvlib.drills.rehearsal import SourceSnapshot, prepare_source

_CACHE: dict[str, Any] = {}
CLIP_CACHE = Path(os.environ.get("VVTV_CLIP_CACHE", "/tmp/vvtv-clip-cache"))


def make_source(base: Path) -> tuple[SourceSnapshot, dict[str, Any]]:
    """The ritual's snapshot, then lockdown; the lockdown report is kept for the round-trip
    scenario (a lockdown problem fails that scenario, not every revival test)."""
    from vvtvlib.core.layout import StationLayout
    from vvtvlib.hibernation.lockdown import LockdownOptions, lockdown

    src = prepare_source(base / "source", items=2, clip_seconds=12, clip_cache=CLIP_CACHE)
    report = lockdown(StationLayout.at(src.root),
                      LockdownOptions(guardian=False, immutability="readonly",
                                      rotate_keys=False))
    return src, report.to_dict()


def _ensure(factory: pytest.TempPathFactory) -> None:
    if "source" not in _CACHE:
        src, lock = make_source(factory.mktemp("revival-source"))
        _CACHE["source"], _CACHE["lockdown"] = src, lock


@pytest.fixture(scope="session")
def revival_source(tmp_path_factory: pytest.TempPathFactory) -> SourceSnapshot:
    _ensure(tmp_path_factory)
    return _CACHE["source"]


@pytest.fixture(scope="session")
def source_lockdown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The lockdown report of the shared source station."""
    _ensure(tmp_path_factory)
    return _CACHE["lockdown"]


def writable_copy(src: Path, dst: Path) -> Path:
    """Copy a (read-only, locked down) snapshot folder so a test may tamper with it."""
    shutil.copytree(src, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dst


@pytest.fixture
def snapshot_copy(revival_source: SourceSnapshot, tmp_path: Path) -> Path:
    return writable_copy(revival_source.snapshot, tmp_path / "snapshot")
