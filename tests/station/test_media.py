from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vvtvlib.core.errors import CheckFailed, DependencyMissing
from vvtvlib.media.clips import MIN_CODE_DISTANCE, item_codes, make_clip, plan_clips
from vvtvlib.media.compare import compare_frames, phash, phash_distance
from vvtvlib.media.ffmpeg import (
    extract_frame,
    ffmpeg_capabilities,
    ffmpeg_exe,
    ffmpeg_version,
    probe_duration,
)


def test_ffmpeg_is_found_and_describes_itself() -> None:
    assert Path(ffmpeg_exe()).is_file()
    assert ffmpeg_version() not in ("", "unknown")
    caps = ffmpeg_capabilities()
    assert "libx264" in caps["encoders"] and "drawtext" in caps["filters"]


def test_a_bad_vvtv_ffmpeg_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VVTV_FFMPEG", str(tmp_path / "nope"))
    with pytest.raises(DependencyMissing, match="VVTV_FFMPEG"):
        ffmpeg_exe()


def test_item_codes_are_far_apart() -> None:
    codes = item_codes(24, seed=3)
    assert len(set(codes)) == 24
    assert min((a ^ b).bit_count() for i, a in enumerate(codes) for b in codes[i + 1:]) \
        >= MIN_CODE_DISTANCE
    assert item_codes(5, seed=3) == codes[:5]


def test_clips_are_byte_identical_across_encodes(tmp_path: Path) -> None:
    spec = plan_clips(1, seconds=4, seed=9)[0]
    a = make_clip(spec, tmp_path / "a.mp4")
    b = make_clip(spec, tmp_path / "b.mp4")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    assert probe_duration(a) == pytest.approx(4.0, abs=0.1)


def test_items_never_look_alike_and_frames_are_reproducible(tmp_path: Path,
                                                            clip_cache: Path) -> None:
    specs = plan_clips(6, seconds=20)
    hashes: dict[tuple[str, int], str] = {}
    for spec in specs:
        clip = make_clip(spec, tmp_path / f"{spec.item_id}.mp4", cache=clip_cache)
        for offset in (0, 10):
            hashes[spec.item_id, offset] = phash(extract_frame(
                clip, offset, tmp_path / f"{spec.item_id}-{offset}.jpg"))
    again = extract_frame(tmp_path / "item-0003.mp4", 10, tmp_path / "again.jpg")
    assert compare_frames(tmp_path / "item-0003-10.jpg", again).phash_distance == 0
    keys = list(hashes)
    cross = [phash_distance(hashes[a], hashes[b]) for i, a in enumerate(keys)
             for b in keys[i + 1:] if a[0] != b[0]]
    assert min(cross) >= 12, "two items look alike to the perceptual hash"


def test_compare_frames_tells_same_from_different(tmp_path: Path, clip_cache: Path) -> None:
    spec_a, spec_b = plan_clips(2, seconds=20)
    a = make_clip(spec_a, tmp_path / "a.mp4", cache=clip_cache)
    b = make_clip(spec_b, tmp_path / "b.mp4", cache=clip_cache)
    fa = extract_frame(a, 4, tmp_path / "fa.jpg")
    fa2 = extract_frame(a, 4, tmp_path / "fa2.png")
    fb = extract_frame(b, 4, tmp_path / "fb.jpg")
    same = compare_frames(fa, fa2)
    other = compare_frames(fa, fb)
    assert same.phash_distance <= 2 and same.ssim > 0.95 and same.psnr_db > 35
    assert other.phash_distance > 12 and other.ssim < 0.6 and other.psnr_db < same.psnr_db
    with pytest.raises(DependencyMissing):
        compare_frames(fa, tmp_path / "missing.jpg")


def test_extract_frame_errors_are_lab_errors(tmp_path: Path) -> None:
    with pytest.raises(DependencyMissing):
        extract_frame(tmp_path / "none.mp4", 0, tmp_path / "x.jpg")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(CheckFailed):
        extract_frame(tmp_path / "junk.mp4", 0, tmp_path / "x.jpg")
