"""The continuity decision: is the first frame after revival the frame the station left on?

Pure: it takes measured numbers and the two playout positions and returns every check with
its value and threshold. Measured on the lab's clips, a perceptual hash alone separates
different clips (distance 22-38) from the same frame (0-8) but cannot tell t from t+1 s on
slow content (4-12), so the proof needs all three kinds of evidence:

* perceptual-hash distance (same picture, tolerant to re-encoding),
* a pixel metric, PSNR and SSIM (same frame, not a neighbour a second away),
* the playout log: same item, plan and slot, offset within one HLS segment.

Pixel thresholds, measured on the lab's clips (320x180, burned-in frame number): the
broadcaster stream-copies mezzanines, so the revived first frame decodes bit-exact (PSNR
capped at 99 dB, SSIM 1.0); neighbouring frames of slow content stay very similar (t + 1/15 s
to t + 2 s: PSNR 26-35 dB, SSIM up to 0.998; busy content: 21-26 dB, 0.83-0.90), and another
clip is far (PSNR 8 dB, SSIM 0.48, phash 32). PSNR >= 40 dB is what separates "same frame"
from "a neighbour"; SSIM >= 0.98 guards the structure; neither alone is enough on slow content.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    phash_max_distance: int = 8
    psnr_min_db: float = 40.0
    ssim_min: float = 0.98
    # When None the segment duration of the revived stream is used.
    offset_tolerance_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Position:
    item_id: Any
    offset_s: float
    plan_id: Any = None
    slot_id: Any = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Position:
        return cls(data.get("item_id"), float(data.get("offset_s") or 0.0),
                   data.get("plan_id"), data.get("slot_id"))


@dataclass(frozen=True)
class Measurement:
    phash_distance: int | None
    psnr_db: float | None
    ssim: float | None


@dataclass
class Check:
    name: str
    value: Any
    threshold: Any
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ContinuityVerdict:
    passed: bool
    checks: list[Check] = field(default_factory=list)
    recorded: dict[str, Any] = field(default_factory=dict)
    revived: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)

    def failed_checks(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [c.to_dict() for c in self.checks],
                "failed": self.failed_checks(), "recorded": self.recorded,
                "revived": self.revived, "thresholds": self.thresholds}


def _same(a: Any, b: Any) -> bool:
    return a is not None and b is not None and str(a) == str(b)


def decide(recorded: Position, revived: Position, measured: Measurement, *,
           segment_s: float, thresholds: Thresholds | None = None) -> ContinuityVerdict:
    """Every check must pass; a metric that could not be measured fails its check."""
    t = thresholds or Thresholds()
    tolerance = t.offset_tolerance_s if t.offset_tolerance_s is not None else segment_s
    checks = [
        Check("phash_distance", measured.phash_distance, f"<= {t.phash_max_distance}",
              measured.phash_distance is not None
              and measured.phash_distance <= t.phash_max_distance),
        Check("psnr_db", measured.psnr_db, f">= {t.psnr_min_db}",
              measured.psnr_db is not None and measured.psnr_db >= t.psnr_min_db),
        Check("ssim", measured.ssim, f">= {t.ssim_min}",
              measured.ssim is not None and measured.ssim >= t.ssim_min),
        Check("item_id", revived.item_id, recorded.item_id, _same(revived.item_id,
                                                                   recorded.item_id)),
        Check("plan_id", revived.plan_id, recorded.plan_id,
              _same(revived.plan_id, recorded.plan_id)),
        Check("slot_id", revived.slot_id, recorded.slot_id,
              _same(revived.slot_id, recorded.slot_id)),
        Check("offset_delta_s", round(abs(revived.offset_s - recorded.offset_s), 3),
              f"<= {round(tolerance, 3)}", abs(revived.offset_s - recorded.offset_s) <= tolerance),
    ]
    return ContinuityVerdict(
        passed=all(c.passed for c in checks), checks=checks,
        recorded=asdict(recorded), revived=asdict(revived),
        thresholds={**t.to_dict(), "offset_tolerance_s": tolerance})
