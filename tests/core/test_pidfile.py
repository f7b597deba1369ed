"""The one pidfile implementation (guardian and station supervisor both use it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vvtvlib.core.errors import UsageError
from vvtvlib.core.pidfile import held, read_pid, write_pid


def test_held_claims_refuses_a_live_holder_and_takes_over_a_stale_one(tmp_path: Path) -> None:
    path = tmp_path / "run" / "x.pid"
    write_pid(path, pid=4242)
    with pytest.raises(UsageError) as err, held(path, lambda pid: pid == 4242, "x already runs"):
        pass
    assert str(err.value) == "x already runs (pid 4242)" and read_pid(path) == 4242
    with held(path, lambda pid: False, "x already runs"):
        assert read_pid(path) == os.getpid()
        assert path.stat().st_mode & 0o777 == 0o600
    assert not path.exists()


def test_a_holder_never_removes_a_file_naming_another_process(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    with held(path, lambda pid: False, "busy"):
        write_pid(path, pid=4243)
    assert read_pid(path) == 4243


def test_unreadable_pidfiles_read_as_none(tmp_path: Path) -> None:
    assert read_pid(tmp_path / "missing.pid") is None
    (tmp_path / "junk.pid").write_text("not a pid\n")
    assert read_pid(tmp_path / "junk.pid") is None
