"""Shared fixtures for the ops tests: a copy of the repository's catalog to mutate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vvtvlib.ops.generate import REPO


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """A repository-shaped folder holding a copy of ops/slo (catalog and window table)."""
    shutil.copytree(REPO / "ops" / "slo", tmp_path / "ops" / "slo")
    return tmp_path
