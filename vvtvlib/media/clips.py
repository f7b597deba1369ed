"""Deterministic mezzanine clips made from FFmpeg test sources.

Each item gets its own source pattern (so two items never look alike to a perceptual hash),
a moving bar (so offsets inside an item differ) and the item id plus the frame number burned
in. Keyframes fall exactly every ``gop_s`` seconds, so an offset that is a multiple of
``gop_s`` is both a seek point and an HLS segment boundary. The encode is single-threaded
with bit-exact flags, so the same spec gives the same bytes (tests cache them by ``key``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from .ffmpeg import ffmpeg_exe, ffmpeg_version, run_ffmpeg

# Sources whose structure differs at the scale a 32x32 DCT hash sees. Order matters: item
# ``n`` uses ``PATTERNS[n % len]``; the hue shift separates items that wrap around.
PATTERNS: tuple[str, ...] = (
    "testsrc2", "smptebars", "mandelbrot", "zoneplate", "rgbtestsrc", "colorchart", "testsrc",
    "cellauto", "yuvtestsrc", "colorspectrum", "gradients", "life",
)


@dataclass(frozen=True)
class ClipSpec:
    item_id: str
    index: int
    pattern: str
    seconds: int
    width: int
    height: int
    fps: int
    gop_s: int
    crf: int
    seed: int

    @property
    def frames(self) -> int:
        return self.seconds * self.fps

    def key(self, ffmpeg_build: str = "") -> str:
        """A cache key: identical keys give identical files."""
        blob = json.dumps({**asdict(self), "ffmpeg": ffmpeg_build, "v": 2}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]


def plan_clips(items: int, *, seconds: int = 30, width: int = 320, height: int = 180,
               fps: int = 15, gop_s: int = 2, crf: int = 30, seed: int = 1) -> list[ClipSpec]:
    if seconds % gop_s:
        raise ValueError("clip length must be a multiple of the GOP length")
    return [ClipSpec(f"item-{i + 1:04d}", i, PATTERNS[i % len(PATTERNS)], seconds, width,
                     height, fps, gop_s, crf, seed) for i in range(items)]


def _source(spec: ClipSpec) -> str:
    size = f"{spec.width}x{spec.height}"
    common = f"size={size}:rate={spec.fps}"
    p = spec.pattern
    if p == "life":
        return f"life=size={size}:rate={spec.fps}:seed={spec.seed}:mold=10:ratio=0.3:" \
               "life_color=#40ff60:death_color=#201060"
    if p == "cellauto":
        return f"cellauto=size={size}:rate={spec.fps}:rule=110:seed={spec.seed}:full=1"
    if p == "gradients":
        return f"gradients={common}:seed={spec.seed}:speed=0.02"
    if p == "colorchart":
        return f"colorchart=rate={spec.fps}:patch_size=32x32"
    if p == "mandelbrot":
        return f"mandelbrot={common}:start_scale=3:end_scale=0.5"
    return f"{p}={common}"


GRID = 4  # the identity grid is GRID x GRID cells
MIN_CODE_DISTANCE = 6


def item_codes(count: int, seed: int) -> list[int]:
    """One 16-bit code per item, pairwise at least ``MIN_CODE_DISTANCE`` bits apart.

    Perceptual hashes work on luma at low frequencies, where colour and fine texture vanish;
    a coarse 4x4 grid of light and dark cells, one pattern per item, is what keeps every two
    items apart for them. Codes are drawn greedily from a seeded hash stream.
    """
    codes: list[int] = []
    n = 0
    while len(codes) < count:
        digest = hashlib.sha256(f"vvtv-item-code:{seed}:{n}".encode()).digest()
        n += 1
        code = int.from_bytes(digest[:2], "big")
        if 4 <= code.bit_count() <= 12 and all(
                (code ^ c).bit_count() >= MIN_CODE_DISTANCE for c in codes):
            codes.append(code)
        if n > 200_000:
            raise ValueError(f"cannot find {count} distinct item codes")
    return codes


def _grid(spec: ClipSpec, code: int) -> list[str]:
    cw, ch = spec.width // GRID, spec.height // GRID
    boxes = []
    for cell in range(GRID * GRID):
        colour = "white@0.55" if code >> cell & 1 else "black@0.55"
        x, y = cell % GRID * cw, cell // GRID * ch
        boxes.append(f"drawbox=x={x}:y={y}:w={cw}:h={ch}:color={colour}:t=fill")
    return boxes


def filter_graph(spec: ClipSpec) -> str:
    code = item_codes(spec.index + 1, spec.seed)[spec.index]
    bar_w = max(8, spec.width // 16)
    parts = [
        f"scale={spec.width}:{spec.height}",
        "format=yuv420p",
        *_grid(spec, code),
        # A bar sweeping across the frame: offsets inside one item look different.
        f"drawbox=x='mod(t*{spec.width // 6},{spec.width})':y=ih-ih/5:w={bar_w}:h=ih/6:"
        "color=white@0.85:t=fill",
        f"drawtext=text='{spec.item_id} f%{{frame_num}}':fontcolor=white:fontsize="
        f"{max(12, spec.height // 9)}:box=1:boxcolor=black@0.65:boxborderw=4:x=8:y=8",
    ]
    return ",".join(p for p in parts if p)


def encode_args(spec: ClipSpec, out: Path) -> list[str]:
    gop = spec.gop_s * spec.fps
    return ["-y", "-f", "lavfi", "-i", _source(spec), "-t", str(spec.seconds),
            "-vf", filter_graph(spec), "-an", "-c:v", "libx264", "-preset", "ultrafast",
            "-tune", "zerolatency", "-crf", str(spec.crf), "-threads", "1",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-force_key_frames", f"expr:eq(mod(n,{gop}),0)", "-pix_fmt", "yuv420p",
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
            "-movflags", "+faststart", "-f", "mp4", str(out)]


def make_clip(spec: ClipSpec, out: str | Path, *, cache: str | Path | None = None) -> Path:
    """Encode ``spec`` into ``out`` (or copy it from ``cache`` when already made there)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    exe = ffmpeg_exe()
    cached = Path(cache) / f"{spec.key(ffmpeg_version(exe))}.mp4" if cache else None
    if cached is not None and cached.exists():
        shutil.copyfile(cached, out)
        return out
    tmp = out.with_name(out.name + ".part")
    run_ffmpeg(encode_args(spec, tmp), exe=exe, timeout_s=300, what=f"clip {spec.item_id}")
    tmp.replace(out)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        part = cached.with_name(cached.name + f".{spec.item_id}.part")
        shutil.copyfile(out, part)
        part.replace(cached)
    return out

