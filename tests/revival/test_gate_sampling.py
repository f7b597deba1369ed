"""The gate's building blocks: content sniffing and the bounded sampling plan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vvtvlib.media.ffmpeg import run_ffmpeg
from vvtvlib.media.sampling import SamplingPolicy, sample_frames, sample_times
from vvtvlib.media.sniff import sniff, sniff_bytes
from vvtvlib.revival.blocklist import ContentUnreadable, scan_content


def test_random_bytes_are_not_media_whatever_the_length() -> None:
    rng = __import__("random").Random(7)
    assert all(sniff_bytes(rng.randbytes(4096)) is None for _ in range(2000))


@pytest.mark.parametrize(("fmt", "expected"), [("mp4", "mp4"), ("mpegts", "mpegts"),
                                               ("matroska", "matroska"), ("image2", "jpeg")])
def test_real_media_is_recognised_by_its_bytes(tmp_path: Path, fmt: str, expected: str) -> None:
    out = tmp_path / "no-suffix"
    args = ["-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=5", "-t", "1"]
    args += (["-frames:v", "1", "-c:v", "mjpeg", "-f", fmt] if fmt == "image2"
             else ["-c:v", "libx264", "-preset", "ultrafast", "-f", fmt])
    run_ffmpeg([*args, str(out)], what="sniff sample")
    found = sniff(out)
    assert found is not None and found.format == expected


def test_sampling_spans_the_whole_clip_and_is_bounded() -> None:
    policy = SamplingPolicy(every_s=5, max_frames=48)
    short = sample_times(70, policy, fps=2)
    gaps = [b - a for a, b in zip(short, short[1:], strict=False)]
    assert short[0] == 0 and short[-1] >= 69 and max(gaps) <= 5
    long = sample_times(10 * 3600, policy, fps=25)
    assert len(long) == 48 and long[-1] >= 10 * 3600 - 1


def test_sample_frames_reaches_the_last_second(tmp_path: Path) -> None:
    clip = tmp_path / "c.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=2", "-t", "12",
                "-c:v", "libx264", "-preset", "ultrafast", str(clip)], what="clip")
    frames = sample_frames(clip, tmp_path / "f", SamplingPolicy(every_s=5, max_frames=4))
    assert [round(t) for t, _ in frames] == [0, 4, 8, 11]
    assert all(f.stat().st_size > 0 for _, f in frames)


def test_media_header_over_garbage_is_refused_not_waved_through(tmp_path: Path) -> None:
    bad = tmp_path / "tree" / "storage" / "ready" / "item.dat"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x00\x00\x00\x20ftypisom" + os.urandom(8192))
    with pytest.raises(ContentUnreadable) as err:
        scan_content(tmp_path / "tree")
    assert "storage/ready/item.dat is mp4 media" in err.value.message


def test_sample_frames_reaches_the_end_of_an_mpeg_ts_clip(tmp_path: Path) -> None:
    # Input seeks near the end of an MPEG-TS file overshoot; the sampler must still get there.
    clip = tmp_path / "segment"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=15", "-t", "30",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
                "-output_ts_offset", "5000", "-f", "mpegts", str(clip)], what="ts clip")
    frames = sample_frames(clip, tmp_path / "f", SamplingPolicy(every_s=5, max_frames=48))
    assert len(frames) == 7 and frames[-1][0] >= 29.5
