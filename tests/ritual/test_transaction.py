"""The snapshot folder transaction: partial name, atomic commit, stale partials, one run."""

from __future__ import annotations

import pytest

from vvtvlib.core.errors import UsageError
from vvtvlib.ritual.transaction import SnapshotFolder, ritual_lock, stale_partials


def test_written_under_a_dot_name_and_renamed_on_commit(tmp_path):
    folder = SnapshotFolder.begin(tmp_path, "2026-01-01_1200Z")
    assert folder.partial.name.startswith(".2026-01-01_1200Z.partial-")
    (folder.path / "x.txt").write_text("x")
    assert not (tmp_path / "2026-01-01_1200Z").exists()
    final = folder.commit()
    assert final == tmp_path / "2026-01-01_1200Z" and (final / "x.txt").read_text() == "x"
    assert not folder.partial.exists() and stale_partials(tmp_path) == []


def test_stamp_is_made_unique_when_the_minute_is_taken(tmp_path):
    (tmp_path / "2026-01-01_1200Z").mkdir()
    (tmp_path / "2026-01-01_1200Z-2").mkdir()
    assert SnapshotFolder.begin(tmp_path, "2026-01-01_1200Z").stamp == "2026-01-01_1200Z-3"


def test_next_run_removes_stale_partials(tmp_path):
    stale = tmp_path / ".2026-01-01_1100Z.partial-99999"
    stale.mkdir()
    (stale / "snapshot_db.tar.zst").write_bytes(b"half")
    folder = SnapshotFolder.begin(tmp_path, "2026-01-01_1200Z")
    assert not stale.exists() and folder.cleaned == (stale.name,)


def test_abort_removes_everything(tmp_path):
    folder = SnapshotFolder.begin(tmp_path, "s")
    (folder.path / "a").write_text("a")
    folder.abort()
    assert list(tmp_path.iterdir()) == []


def test_only_one_ritual_at_a_time(tmp_path):
    lock = tmp_path / "run" / "ritual.lock"
    with ritual_lock(lock), pytest.raises(UsageError, match="another ritual"), ritual_lock(lock):
        pass
    with ritual_lock(lock):  # released
        pass
