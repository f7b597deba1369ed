"""manifest_gaps names exactly what a manifest lacks."""

from __future__ import annotations

import copy

from vvtvlib.ritual.acceptance import manifest_gaps

FILE = {"path": "data/plans.sqlite", "type": "file", "size": 10, "mode": "0644",
        "sha256": "a" * 64}
ARCHIVE = {"sha256": "b" * 64, "size": 100, "files": [FILE]}
COMPLETE = {
    "versions": {"vvtvlib": "0.1.0", "python": "3.11.9", "ffmpeg": "7.1", "nginx": None,
                 "sqlite": "3.45"},
    "selection_seeds": {"station": 1}, "business_logic_sha256": "c" * 64,
    "playout": {"slot_id": "s", "plan_id": "p", "item_id": "i", "offset_s": 0.0},
    "final_frame": {"file": "final_frame.jpg", "sha256": "d" * 64, "phash": "ab" * 8},
    "databases": {"plans.sqlite": {"tables": {}}},
    "archives": {n: ARCHIVE for n in ("snapshot_db.tar.zst", "snapshot_system.tar.zst",
                                      "snapshot_data.tar.zst")},
}


def test_complete_manifest_has_no_gaps():
    assert manifest_gaps(COMPLETE) == []


def test_each_missing_part_is_named():
    m = copy.deepcopy(COMPLETE)
    del m["versions"]["ffmpeg"]
    m["selection_seeds"] = {}
    m["playout"]["offset_s"] = None
    del m["archives"]["snapshot_data.tar.zst"]
    m["archives"]["snapshot_db.tar.zst"] = {**ARCHIVE, "files": [{**FILE, "sha256": None}]}
    assert manifest_gaps(m) == ["versions.ffmpeg", "selection_seeds", "playout.offset_s",
                                "archives.snapshot_db.tar.zst.files",
                                "archives.snapshot_data.tar.zst"]
