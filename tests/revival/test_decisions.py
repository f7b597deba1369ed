"""Pure revival logic: continuity decision, rollback protection, blocklist, preset adaptation."""

from __future__ import annotations

import pytest

from vvtvlib.core.errors import CheckFailed, ConfigError, IntegrityError
from vvtvlib.revival.blocklist import (
    ContentBlocked,
    hamming,
    match_files,
    match_frames,
    parse_blocklist,
    refuse_if_matched,
)
from vvtvlib.revival.continuity import Measurement, Position, Thresholds, decide
from vvtvlib.revival.presets import EncoderCaps, adapt_encoder, same_version
from vvtvlib.vault.history import (
    GenerationRecord,
    RollbackRefused,
    check_rollback,
    lineage_problems,
    newest_generation,
    read_history,
    write_record,
)

REC = Position("item-0003", 12.0, "plan-1", "slot-7")


def test_same_frame_same_position_passes() -> None:
    v = decide(REC, Position("item-0003", 12.0, "plan-1", "slot-7"),
               Measurement(0, 99.0, 1.0), segment_s=2.0)
    assert v.passed and v.failed_checks() == []
    assert {c.name for c in v.checks} >= {"phash_distance", "psnr_db", "ssim", "offset_delta_s"}


def test_neighbour_frame_on_slow_content_fails_on_psnr_alone() -> None:
    # Measured on the lab's slow clip, t vs t + 0.5 s: phash 0 and SSIM 0.998 say "same",
    # the playout offset is inside one segment; only PSNR (35 dB) tells them apart.
    v = decide(REC, Position("item-0003", 12.5, "plan-1", "slot-7"),
               Measurement(0, 35.05, 0.9984), segment_s=2.0)
    assert v.failed_checks() == ["psnr_db"]
    busy = decide(REC, Position("item-0003", 13.0, "plan-1", "slot-7"),
                  Measurement(8, 21.7, 0.83), segment_s=2.0)
    assert busy.failed_checks() == ["psnr_db", "ssim"]


def test_other_clip_fails_on_phash_and_item() -> None:
    v = decide(REC, Position("item-0004", 12.0, "plan-1", "slot-7"),
               Measurement(30, 11.0, 0.2), segment_s=2.0)
    assert "phash_distance" in v.failed_checks() and "item_id" in v.failed_checks()


def test_offset_beyond_one_segment_fails_and_unmeasured_metric_fails() -> None:
    v = decide(REC, Position("item-0003", 14.5, "plan-1", "slot-7"),
               Measurement(1, None, 0.99), segment_s=2.0)
    assert v.failed_checks() == ["psnr_db", "offset_delta_s"]
    v2 = decide(REC, REC, Measurement(1, 45.0, 0.995), segment_s=2.0,
                thresholds=Thresholds(offset_tolerance_s=0.0))
    assert v2.passed and v2.thresholds["offset_tolerance_s"] == 0.0


def test_rollback_protection() -> None:
    assert check_rollback(3, 2, allow=False) is None
    assert check_rollback(3, 3, allow=False) is None
    with pytest.raises(RollbackRefused) as err:
        check_rollback(2, 5, allow=False)
    assert isinstance(err.value, CheckFailed) and "older" in err.value.message
    assert "forced" in (check_rollback(2, 5, allow=True) or "")


def _rec(gen: int, sig: str, anc: str | None, kind: str = "snapshot") -> GenerationRecord:
    return GenerationRecord(gen, kind, "st", f"s{gen}", "2026-01-01T00:00:00.000Z", sig, anc)


def test_history_records_are_written_once_and_walked(tmp_path) -> None:
    assert newest_generation(tmp_path / "none") == 0
    write_record(tmp_path, _rec(1, "A", None))
    write_record(tmp_path, _rec(2, "B", "A", "revival"))
    write_record(tmp_path, _rec(2, "B", "A", "revival"))  # identical re-run is idempotent
    with pytest.raises(IntegrityError):
        write_record(tmp_path, _rec(2, "C", "A"))
    assert newest_generation(tmp_path) == 2
    records = read_history(tmp_path)
    assert [r.kind for r in records] == ["snapshot", "revival"]
    assert lineage_problems(records) == []
    assert lineage_problems([_rec(1, "A", None), _rec(2, "B", "X")])
    assert lineage_problems([_rec(1, "A", None), _rec(3, "B", "A")])


def test_history_record_with_wrong_number_is_an_integrity_error(tmp_path) -> None:
    path = write_record(tmp_path, _rec(1, "A", None))
    path.rename(tmp_path / "generation-0009.json")
    with pytest.raises(IntegrityError):
        read_history(tmp_path)


def test_blocklist_matches_hashes_and_frames() -> None:
    bl = parse_blocklist({"schema": "vvtv.blocklist/1",
                          "sha256": ["ab" * 32, {"sha256": "CD" * 32, "reason": "flagged"}],
                          "phash": [{"phash": "ff00ff00ff00ff00", "max_distance": 4}]})
    assert match_files(bl, [("a", "00" * 32), ("b", "cd" * 32)])[0].path == "b"
    assert hamming("ff00ff00ff00ff00", "ff00ff00ff00ff01") == 1
    frames = match_frames(bl, [("x@1s", "ff00ff00ff00ff07"), ("y@1s", "0000000000000000")])
    assert [(m.path, m.distance) for m in frames] == [("x@1s", 3)]
    with pytest.raises(ContentBlocked) as err:
        refuse_if_matched(match_files(bl, [("storage/ready/bad.mp4", "ab" * 32)]))
    assert "storage/ready/bad.mp4" in err.value.message and err.value.actual == "ab" * 32
    refuse_if_matched([])
    with pytest.raises(ConfigError):
        parse_blocklist({"sha256": ["nothex"]})


def test_preset_adaptation() -> None:
    caps = EncoderCaps("7.1", frozenset({"libx264", "mpeg4"}))
    same = adapt_encoder({"codec": "libx264", "preset": "veryfast"}, "7.1", caps)
    assert not same.changed and not same.version_diverged
    other = adapt_encoder({"codec": "libx264", "preset": "veryfast"}, "4.4.2", caps)
    assert other.version_diverged and {c.key for c in other.changes} == {"pix_fmt", "profile"}
    assert other.settings["preset"] == "veryfast" and other.settings["pix_fmt"] == "yuv420p"
    bad = adapt_encoder({"codec": "libx264", "preset": "turbo", "profile": "high444"}, "7.1",
                        caps)
    assert bad.settings["preset"] == "veryfast"
    no264 = adapt_encoder({"codec": "libx264", "preset": "slow"}, "7.1",
                          EncoderCaps("7.1", frozenset({"mpeg4"})))
    assert no264.settings["codec"] == "mpeg4" and "preset" not in no264.settings
    assert same_version("n7.1-3-gabc", "7.1") and not same_version("6.0", "7.1")
