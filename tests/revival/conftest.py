"""Revival fixtures: a synthetic signed snapshot (session-wide, copied per test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .synthetic import Synthetic, make_synthetic


@pytest.fixture(scope="session")
def synthetic_master(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    return make_synthetic(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture
def synthetic(synthetic_master: Synthetic, tmp_path: Path) -> Synthetic:
    """A private copy, so a test may tamper with it."""
    folder = tmp_path / "snapshot"
    shutil.copytree(synthetic_master.folder, folder)
    return Synthetic(folder, synthetic_master.secret, synthetic_master.pubkey,
                     synthetic_master.clip, synthetic_master.clip_sha256)


def tree_state(root: Path) -> list[tuple[str, int, int, int]] | None:
    """Everything under ``root`` (path, size, mode, mtime), or None when it does not exist."""
    if not root.exists():
        return None
    return sorted((p.relative_to(root).as_posix(), p.lstat().st_size, p.lstat().st_mode,
                   p.lstat().st_mtime_ns) for p in root.rglob("*"))
