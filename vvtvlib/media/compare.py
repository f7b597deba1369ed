"""Perceptual and pixel comparison of two frames (continuity proofs, final-frame KPIs).

``phash`` is imagehash's DCT hash (64 bits, hex). PSNR and SSIM are computed on the luma
plane with numpy; SSIM uses an 8x8 box window (Wang et al. constants), which is enough to
tell "same frame re-encoded" from "different frame".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from vvtvlib.core.errors import DependencyMissing


@dataclass(frozen=True)
class FrameComparison:
    phash_distance: int
    psnr_db: float
    ssim: float

    def to_dict(self) -> dict[str, float | int]:
        return {"phash_distance": self.phash_distance, "psnr_db": self.psnr_db,
                "ssim": self.ssim}


def _open(path: str | Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError:
        raise DependencyMissing(f"image {path} does not exist", path=path) from None


def phash(path: str | Path) -> str:
    """The 64-bit perceptual hash of an image, as 16 hex digits."""
    return str(imagehash.phash(_open(path)))


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two hex perceptual hashes."""
    return int(imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b))


def _luma(img: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    gray = img.convert("L")
    if size is not None and gray.size != size:
        gray = gray.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(255.0 ** 2 / mse)


def _box(x: np.ndarray, w: int) -> np.ndarray:
    """Mean over every w x w window (valid region), via summed-area tables."""
    c = np.cumsum(np.cumsum(np.pad(x, ((1, 0), (1, 0))), axis=0), axis=1)
    return (c[w:, w:] - c[:-w, w:] - c[w:, :-w] + c[:-w, :-w]) / (w * w)


def ssim(a: np.ndarray, b: np.ndarray, window: int = 8) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    w = max(1, min(window, a.shape[0], a.shape[1]))
    mu_a, mu_b = _box(a, w), _box(b, w)
    var_a = _box(a * a, w) - mu_a ** 2
    var_b = _box(b * b, w) - mu_b ** 2
    cov = _box(a * b, w) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def compare_frames(a: str | Path, b: str | Path) -> FrameComparison:
    """Compare two images; ``b`` is resized to ``a``'s size when they differ."""
    img_a, img_b = _open(a), _open(b)
    dist = int(imagehash.phash(img_a) - imagehash.phash(img_b))
    la = _luma(img_a)
    lb = _luma(img_b, (la.shape[1], la.shape[0]))
    p = psnr(la, lb)
    return FrameComparison(dist, round(p, 3) if math.isfinite(p) else 99.0, round(ssim(la, lb), 5))
