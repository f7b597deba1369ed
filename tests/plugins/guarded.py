"""Fixtures for guardian and hibernation tests: a signed lab snapshot, locked or not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.guardian.lab import FakeStation, LabSnapshot, locked_lab, make_lab_snapshot, unlock_tree


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabSnapshot]:
    snap = make_lab_snapshot(tmp_path / "station")
    yield snap
    unlock_tree(tmp_path)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[LabSnapshot, FakeStation]]:
    pair = locked_lab(tmp_path / "station")
    yield pair
    unlock_tree(tmp_path)
