from __future__ import annotations

from pathlib import Path

from vvtvlib.drills.lab import clear_lab, station_roots
from vvtvlib.guardian import flags_supported, is_immutable, set_immutable


def _fake_root(root: Path) -> Path:
    (root / "system" / "configs").mkdir(parents=True)
    snap = root / "vault" / "snapshots" / "2026-01-01_0000Z"
    snap.mkdir(parents=True)
    (snap / "last_manifest.json").write_text("{}")
    return snap / "last_manifest.json"


def test_clear_lab_releases_locked_snapshots_and_removes_everything(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    locked = _fake_root(lab / "m3" / "source")
    _fake_root(lab / "m3" / "revived")
    assert [p.name for p in station_roots(lab)] == ["revived", "source"]
    locked.chmod(0o400)
    if flags_supported(locked.parent):
        assert set_immutable(locked, True) and is_immutable(locked)
    locked.parent.chmod(0o500)
    clear_lab(lab)
    assert not lab.exists()


def test_clear_lab_of_a_missing_folder_is_a_no_op(tmp_path: Path) -> None:
    clear_lab(tmp_path / "nothing")
