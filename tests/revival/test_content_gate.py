"""The content gate decides by content, not by file name: media is found by its bytes and
sampled over its whole length; anything else is matched by exact hash and never decoded."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from vvtvlib.media.compare import phash_distance
from vvtvlib.revival.blocklist import Blocklist, ContentBlocked, HashEntry, PhashEntry
from vvtvlib.revival.restore import content_gate, restore_to_staging
from vvtvlib.revival.verify import trust_for, verify

from .gate_fixtures import (
    GateSnapshot,
    frame_phash,
    lavfi_clip,
    make_gate_snapshot,
    still_phash,
)

FLAGGED = "smptebars"  # what the detector flagged: a still of it is on the blocklist
LATE_AT_S = 62  # the long clip shows the flagged content only from here on


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("gate-clips")
    return {
        "flagged": lavfi_clip(work / "flagged.mp4", [(FLAGGED, 4)]),
        "late": lavfi_clip(work / "late.mp4", [("testsrc2", LATE_AT_S), (FLAGGED, 8)]),
    }


@pytest.fixture(scope="module")
def flagged_phash(tmp_path_factory: pytest.TempPathFactory) -> str:
    return still_phash(FLAGGED, tmp_path_factory.mktemp("gate-still"))


def _gate(snap: GateSnapshot, blocklist: Blocklist, work: Path) -> dict:
    anchor = trust_for(snap.pubkey, work / "node", snap.folder)
    verified = verify(snap.folder, snap.folder / "last_manifest.json",
                      snap.folder / "signature.sig", anchor)
    staging = work / "staging"
    restore_to_staging(snap.folder, verified, staging)
    return content_gate(staging, verified, blocklist, snap.folder)


def _flag(value: str) -> Blocklist:
    return Blocklist(phash=[PhashEntry(value, max_distance=8, reason="flagged")])


@pytest.mark.parametrize("name", ["mezzanine/item-0002.MP4", "mezzanine/item-0002.bin",
                                  "incoming/item-0002"])
def test_flagged_clip_is_blocked_whatever_its_name(clips, flagged_phash, tmp_path, name):
    snap = make_gate_snapshot(tmp_path / "snap", {name: clips["flagged"]})
    with pytest.raises(ContentBlocked) as err:
        _gate(snap, _flag(flagged_phash), tmp_path)
    assert f"storage/ready/{name}@" in err.value.message
    assert err.value.exit_code == 1


def test_flagged_content_after_the_first_minute_is_blocked(clips, flagged_phash, tmp_path):
    late = clips["late"]
    # The clip's first minute does not look like the flagged still; its end does.
    assert phash_distance(frame_phash(late, 30, tmp_path), flagged_phash) > 8
    assert phash_distance(frame_phash(late, LATE_AT_S + 4, tmp_path), flagged_phash) <= 8
    snap = make_gate_snapshot(tmp_path / "snap", {"mezzanine/item-0003.mp4": late})
    with pytest.raises(ContentBlocked) as err:
        _gate(snap, _flag(flagged_phash), tmp_path)
    label = err.value.message.split("storage/ready/mezzanine/item-0003.mp4@", 1)[1]
    assert float(label.split("s", 1)[0]) >= LATE_AT_S


def test_random_filler_with_a_perceptual_entry_passes_the_gate(clips, flagged_phash,
                                                                tmp_path):
    filler = os.urandom(256 * 1024)
    snap = make_gate_snapshot(tmp_path / "snap", {"filler/archive-0000.ts": filler,
                                                  "filler/archive-0001.mp4": filler[:4096]})
    result = _gate(snap, _flag(flagged_phash), tmp_path)
    assert result["phash_entries"] == 1
    assert result["media_files"] == ["final_frame.jpg", "storage/ready/mezzanine/item-0001.mp4"]
    assert result["frames_checked"] >= 2
    assert result["skipped_non_media"] >= 2


def test_non_media_is_still_matched_by_exact_hash(tmp_path):
    filler = os.urandom(64 * 1024)
    snap = make_gate_snapshot(tmp_path / "snap", {"filler/archive-0000.ts": filler})
    digest = hashlib.sha256(filler).hexdigest()
    blocklist = Blocklist(sha256=[HashEntry(digest, "known bad archive")],
                          phash=[PhashEntry("0" * 16, 0)])
    with pytest.raises(ContentBlocked) as err:
        _gate(snap, blocklist, tmp_path)
    assert "storage/ready/filler/archive-0000.ts" in err.value.message
