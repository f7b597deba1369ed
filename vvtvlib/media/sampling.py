"""Frames sampled over the whole length of a clip, at a bounded cost.

``sample_times`` spreads the sample points from the first frame to just before the end:
one every ``every_s`` seconds while the clip is short enough, and ``max_frames`` points
evenly spaced once it is longer (so the gap between two points is
``max(every_s, duration / (max_frames - 1))``). The first and the last part of a clip are
always looked at.

``sample_frames`` grabs them in one FFmpeg run with one input seek per point (``-ss``
before ``-i``: FFmpeg jumps to the keyframe before the point and decodes from there), so
the cost is about ``max_frames`` GOPs of decoding whatever the clip's length, instead of
decoding the whole clip. A clip whose duration FFmpeg cannot read (a raw stream) is
decoded from its start instead, one frame every ``every_s`` seconds, ``max_frames`` at most.
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
        for start in range(0, len(times), BATCH):
            batch = list(enumerate(times))[start:start + BATCH]
            args = ["-y"]
            for _, t in batch:
                args += ["-ss", f"{t:.3f}", "-i", str(clip)]
            for k, (i, _) in enumerate(batch):  # full-range YUV, as MJPEG wants it
                args += ["-map", f"{k}:v:0", "-frames:v", "1", "-q:v", "3",
                         "-pix_fmt", "yuvj420p", str(out_dir / f"at-{i:03d}.jpg")]
            run_ffmpeg(args, exe=exe, timeout_s=timeout_s, what=what)
        frames = [(t, out_dir / f"at-{i:03d}.jpg") for i, t in enumerate(times)
                  if (out_dir / f"at-{i:03d}.jpg").is_file()]
    if not frames:
        raise CheckFailed(f"FFmpeg decoded no frame from {clip}", path=clip)
    return frames
