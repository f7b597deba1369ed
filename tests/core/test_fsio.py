from __future__ import annotations

import os
from pathlib import Path

import pytest

from vvtvlib.core.fsio import atomic_write, unique_name


def test_atomic_write_sets_the_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        public = atomic_write(tmp_path / "a" / "pub.json", "{}", mode=0o644)
    finally:
        os.umask(old)
    private = atomic_write(tmp_path / "key", b"secret", mode=0o600)
    assert public.stat().st_mode & 0o777 == 0o644
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.read_bytes() == b"secret"


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "f", b"old")
    with pytest.raises(TypeError):
        atomic_write(target, 42)  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_unique_name(tmp_path: Path) -> None:
    assert unique_name(tmp_path, "s") == "s"
    (tmp_path / "s").mkdir()
    (tmp_path / "s-2").mkdir()
    assert unique_name(tmp_path, "s") == "s-3"


def test_sync_filesystem_runs_on_a_real_folder(tmp_path: Path) -> None:
    from vvtvlib.core.fsio import sync_filesystem

    atomic_write(tmp_path / "f", b"x", durable=False)
    sync_filesystem(tmp_path)  # syncfs(2) on this filesystem; must not raise
    with pytest.raises(FileNotFoundError):
        sync_filesystem(tmp_path / "missing")
