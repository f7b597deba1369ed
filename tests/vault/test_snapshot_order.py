"""The vault's one snapshot folder model: listing and "newest" ordering by the stamp parsed
from the folder name (never by modification time), and the newest snapshot that verifies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vvtvlib.core.errors import CheckFailed, UsageError
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault import (
    MANIFEST,
    SIGNATURE,
    list_snapshots,
    newest_snapshot,
    newest_verified_snapshot,
    snapshot_sort_key,
)

from .conftest import Keys, write_snapshot

# oldest first, as the ritual names them (same-minute snapshots get -2, -3, ...)
STAMPS = ["2025-12-31_2359Z", "2026-01-02_0000Z", "2026-01-02_0000Z-2", "2026-01-02_0000Z-10",
          "2026-01-10_0905Z"]


def _sealed(parent: Path, name: str) -> Path:
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text("{}")
    (folder / SIGNATURE).write_text("x")
    return folder


def test_order_is_by_the_parsed_stamp_then_the_suffix() -> None:
    names = ["not-a-stamp", *STAMPS, "2026-13-40_9999Z"]
    ordered = sorted(reversed(names), key=snapshot_sort_key)
    # names that are not (valid) stamps are older than every stamp, among themselves by name
    assert ordered == ["2026-13-40_9999Z", "not-a-stamp", *STAMPS]


def test_listing_is_newest_first_and_ignores_mtime(tmp_path: Path) -> None:
    parent = tmp_path / "snapshots"
    for i, name in enumerate(STAMPS):
        folder = _sealed(parent, name)
        # the oldest stamp is touched last: a copy or restore reorders mtimes like this
        os.utime(folder, (2_000_000_000 - i * 1000, 2_000_000_000 - i * 1000))
    _sealed(parent, ".2026-02-01_0000Z.partial-77")  # a ritual's unfinished work
    (parent / "2026-03-01_0000Z").symlink_to(parent / STAMPS[0])
    (parent / "2026-02-01_0000Z").mkdir()  # not sealed
    assert [p.name for p in list_snapshots(parent, sealed=True)] == STAMPS[::-1]
    assert [p.name for p in list_snapshots(parent)] == ["2026-02-01_0000Z", *STAMPS[::-1]]
    assert newest_snapshot(parent) == parent / "2026-01-10_0905Z"
    assert newest_snapshot(parent, sealed=False) == parent / "2026-02-01_0000Z"
    assert newest_snapshot(tmp_path / "absent") is None
    assert list_snapshots(tmp_path / "absent") == []


def test_rehearsal_source_is_the_newest_stamp_not_the_last_touched(tmp_path: Path) -> None:
    from vvtvlib.drills.rehearsal import newest_snapshot as rehearsal_newest

    parent = StationLayout.at(tmp_path).snapshots
    newer = _sealed(parent, "2026-01-02_0000Z-10")
    older = _sealed(parent, "2026-01-02_0000Z-2")
    os.utime(newer, (1_000_000_000, 1_000_000_000))
    os.utime(older, (2_000_000_000, 2_000_000_000))
    assert rehearsal_newest(tmp_path) == newer


def test_newest_verified_snapshot_skips_newer_folders_that_do_not_verify(
        tree: Path, tmp_path: Path, keys: Keys) -> None:
    layout = StationLayout.at(tmp_path / "root")
    layout.trusted_keys.mkdir(parents=True)
    shutil.copy(keys.public, layout.trusted_keys / "foundation.pub")
    with pytest.raises(UsageError, match="no snapshot"):
        newest_verified_snapshot(layout.snapshots, [keys.pub])
    good = layout.snapshots / "2026-01-02_0000Z-2"
    write_snapshot(tree, good, keys)
    bad = layout.snapshots / "2026-01-02_0000Z-10"
    shutil.copytree(good, bad)
    archive = bad / "snapshot_data.tar.zst"
    archive.write_bytes(archive.read_bytes()[:-1] + b"\0")
    found = newest_verified_snapshot(layout.snapshots, [keys.pub])
    assert found.folder == good and found.key_id == keys.pub.id_hex
    assert [s["folder"] for s in found.skipped] == [bad.name]
    assert found.to_dict()["skipped"][0]["reason"]
    from vvtvlib.hibernation.snapshot import newest_verified_snapshot as lockdown_choice

    assert lockdown_choice(layout).folder == good
    (good / MANIFEST).write_text("{}")
    with pytest.raises(CheckFailed, match="verifies"):
        newest_verified_snapshot(layout.snapshots, [keys.pub])
