"""Frames sampled over the whole length of a clip, at a bounded cost.

``sample_times`` spreads the sample points from the first frame to just before the end:
one every ``every_s`` seconds while the clip is short enough, and ``max_frames`` points
evenly spaced once it is longer (so the gap between two points is
``max(every_s, duration / (max_frames - 1))``). The first and the last part of a clip are
always looked at.

``sample_frames`` grabs them in one FFmpeg run with one input seek per point (``-ss``
before ``-i``: FFmpeg jumps to the keyframe before the point and decodes from there), so
the cost is about ``max_frames`` GOPs of decoding whatever the clip's length, instead of
decoding the whole clip. A point where the container's seek overshoots (MPEG-TS near its
end) is grabbed once more from ``RETRY_LOOKBACK_S`` earlier, so the worst case is
``max_frames`` times that many seconds of decoding. A clip whose duration FFmpeg cannot
read (a raw stream) is decoded from its start instead, one frame every ``every_s`` seconds,
``max_frames`` at most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from vvtvlib.core.errors import CheckFailed

from .ffmpeg import ffmpeg_exe, probe_video, run_ffmpeg

# The last point sits this far before the end, 1.5 frame intervals when the frame rate is
# known (an accurate seek past the start of the last frame finds nothing).
TAIL_S = 1.0
BATCH = 16  # inputs per FFmpeg run
# Input seeking near the end of some containers (MPEG-TS) overshoots and finds no frame; such
# points are grabbed again from this many seconds earlier, decoding forward to the point.
RETRY_LOOKBACK_S = 10.0


@dataclass(frozen=True)
class SamplingPolicy:
    every_s: float = 5.0
    max_frames: int = 48

    def __post_init__(self) -> None:
        if self.every_s <= 0 or self.max_frames < 2:
            raise ValueError("sampling needs every_s > 0 and max_frames >= 2")

    def to_dict(self) -> dict[str, float | int]:
        return {"every_s": self.every_s, "max_frames": self.max_frames}


DEFAULT_SAMPLING = SamplingPolicy()


def sample_times(duration_s: float, policy: SamplingPolicy = DEFAULT_SAMPLING,
                 fps: float | None = None) -> list[float]:
    """Sample points (seconds) from 0 to just before ``duration_s``, both ends included."""
    tail = 1.5 / fps if fps else TAIL_S
    last = max(0.0, duration_s - min(tail, duration_s / 2))
    if last <= 0:
        return [0.0]
    n = min(policy.max_frames, math.ceil(last / policy.every_s) + 1)
    n = max(n, 2)
    return [round(last * i / (n - 1), 3) for i in range(n)]


def sample_frames(clip: str | Path, out_dir: str | Path,
                  policy: SamplingPolicy = DEFAULT_SAMPLING, *, timeout_s: float = 300.0
                  ) -> list[tuple[float, Path]]:
    """(offset in seconds, JPEG) for each sample point of ``clip``: none for media without
    a video stream (audio); ``CheckFailed`` when FFmpeg cannot open the file as media or
    no frame came out of its video."""
    clip, out_dir = Path(clip), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = ffmpeg_exe()
    what = f"frame sampling of {clip.name}"
    probe = probe_video(clip, exe)
    if probe.streams == 0:
        raise CheckFailed(f"FFmpeg cannot open {clip} as media", path=clip)
    if not probe.video:
        return []
    frames: list[tuple[float, Path]] = []
    if probe.duration_s is None:
        stem = out_dir / "frame-%03d.jpg"
        run_ffmpeg(["-y", "-i", str(clip), "-vf", f"fps=1/{policy.every_s:g}", "-frames:v",
                    str(policy.max_frames), "-q:v", "3", str(stem)], exe=exe,
                   timeout_s=timeout_s, what=what)
        frames = [(i * policy.every_s, f)
                  for i, f in enumerate(sorted(out_dir.glob("frame-*.jpg")))]
    else:
        times = sample_times(probe.duration_s, policy, probe.fps)
        todo = list(enumerate(times))
        for lookback in (0.0, RETRY_LOOKBACK_S):
            for start in range(0, len(todo), BATCH):
                _grab(exe, clip, out_dir, todo[start:start + BATCH], lookback, timeout_s, what)
            todo = [(i, t) for i, t in todo if not _frame(out_dir, i).is_file()]
            if not todo:
                break
        frames = [(t, _frame(out_dir, i)) for i, t in enumerate(times)
                  if _frame(out_dir, i).is_file()]
    if not frames:
        raise CheckFailed(f"FFmpeg decoded no frame from {clip}", path=clip)
    return frames


def _frame(out_dir: Path, i: int) -> Path:
    return out_dir / f"at-{i:03d}.jpg"


def _grab(exe: str, clip: Path, out_dir: Path, points: list[tuple[int, float]],
          lookback: float, timeout_s: float, what: str) -> None:
    """One FFmpeg run, one input per point: seek to ``t - lookback`` (a keyframe before it),
    then decode ``lookback`` seconds more to reach ``t``."""
    args = ["-y"]
    for _, t in points:
        back = min(lookback, t)
        args += ["-ss", f"{t - back:.3f}", "-i", str(clip)]
    for k, (i, t) in enumerate(points):  # full-range YUV, as MJPEG wants it
        back = min(lookback, t)
        args += ["-map", f"{k}:v:0", *(["-ss", f"{back:.3f}"] if back else []),
                 "-frames:v", "1", "-q:v", "3", "-pix_fmt", "yuvj420p", str(_frame(out_dir, i))]
    run_ffmpeg(args, exe=exe, timeout_s=timeout_s, what=what)
