"""The final frame and its telemetry (seed M1 step 3).

``final_frame.jpg`` is the first frame of the newest live HLS segment; the playout log maps
that segment to (slot, plan, item, offset). The same frame is re-extracted from the
mezzanine at (item, offset) and compared (perceptual hash, SSIM, PSNR, VMAF where FFmpeg has
libvmaf): that is what makes the frame reproducible on a revived node.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.errors import CheckFailed
from vvtvlib.core.layout import StationLayout

from . import probe, telemetry
from .config import FinalFrame

FRAME_NAME = "final_frame.jpg"
RECORD_NAME = "final_frame.json"


def _status_field(status: Any, name: str, default: Any = None) -> Any:
    if isinstance(status, dict):
        return status.get(name, default)
    return getattr(status, name, default)


def reference_frame(layout: StationLayout, item_id: str, offset_s: float, out: Path) -> Path:
    """The mezzanine frame at (item, offset): what the live frame must look like."""
    from vvtvlib.media.ffmpeg import extract_frame

    clip = probe.item_clip(layout, item_id)
    if clip is None:
        raise CheckFailed(f"no mezzanine clip is known for item {item_id}", actual=item_id)
    return extract_frame(clip, offset_s, out)


def reproducibility(layout: StationLayout, frame: Path, item_id: str, offset_s: float,
                    *, vmaf: bool = True) -> dict[str, Any]:
    """Re-extract the reference frame and compare; a fresh temporary file each time."""
    from vvtvlib.media.compare import compare_frames, phash
    from vvtvlib.media.ffmpeg import ffmpeg_exe

    with tempfile.TemporaryDirectory(prefix="vvtv-ref-") as tmp:
        ref = reference_frame(layout, item_id, offset_s, Path(tmp) / "reference.jpg")
        cmp = compare_frames(frame, ref)
        score = telemetry.vmaf_score(frame, ref, ffmpeg_exe()) if vmaf else None
        ref_phash = phash(ref)
    return {**cmp.to_dict(), "vmaf": score, "reference_phash": ref_phash}


def reproducible(comparison: dict[str, Any], phash_max_distance: int, psnr_min_db: float
                 ) -> bool:
    """The live frame is the mezzanine frame at (item, offset): close in perceptual hash
    and in pixels (the hash alone passes a frame two seconds away on slow content)."""
    psnr = comparison.get("psnr_db")
    return (comparison["phash_distance"] <= phash_max_distance
            and psnr is not None and psnr >= psnr_min_db)


def capture(layout: StationLayout, status: Any, folder: Path, cfg: FinalFrame,
            *, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """Write ``final_frame.jpg`` and ``final_frame.json`` into ``folder``; return the record."""
    from vvtvlib.media.compare import phash
    from vvtvlib.media.ffmpeg import ffmpeg_exe, ffmpeg_version, grab_live_frame
    from vvtvlib.station.broadcaster import playout_entry
    from vvtvlib.vault.manifest import sha256_file

    hls_url = _status_field(status, "hls_url")
    if not hls_url:
        raise CheckFailed("the station reports no HLS URL; cannot capture the final frame")
    frame = folder / FRAME_NAME
    ts = utc_iso(clock.now())
    grab = grab_live_frame(hls_url, frame, timeout_s=cfg.grab_timeout_s)
    # The frame's metadata must be that segment's own playout line, never "what is playing
    # now": the tracker can lag the playlist, and a guess one segment off would send the
    # revival to the wrong frame.
    entry = (playout_entry(layout, grab.segment, timeout_s=cfg.grab_timeout_s,
                           sequence=grab.media_sequence) if grab.segment else None)
    if entry is None:
        raise CheckFailed(f"the playout log does not name the grabbed segment {grab.segment} "
                          f"(sequence {grab.media_sequence}); cannot tell which frame aired",
                          path=layout.broadcast / "playout.jsonl", expected=grab.segment)
    src = entry
    item_id = src.get("item_id")
    offset_s = float(src.get("offset_s") or 0.0)
    slot_id, plan_id = src.get("slot_id"), src.get("plan_id")
    comparison = reproducibility(layout, frame, str(item_id), offset_s, vmaf=cfg.vmaf)
    digest, size = sha256_file(frame)
    exe = ffmpeg_exe()
    record: dict[str, Any] = {
        "ts_utc": ts,
        "slot_id": slot_id,
        "plan_id_executado": plan_id,
        "plan_id": plan_id,
        "item_id": item_id,
        "offset_s": offset_s,
        "segment": grab.segment,
        "media_sequence": grab.media_sequence,
        "program_date_time": grab.program_date_time or entry.get("program_date_time"),
        "hls_url": hls_url,
        "ffmpeg_args": ["-probesize", "32768", "-analyzeduration", "500000", "-i",
                        grab.segment_url or hls_url, "-frames:v", "1", "-q:v", "2", FRAME_NAME],
        "ffmpeg_version": ffmpeg_version(exe),
        "file": FRAME_NAME,
        "sha256": digest,
        "size": size,
        "phash": phash(frame),
        "reference": {"item_id": item_id, "offset_s": offset_s,
                      "clip": _rel(layout, probe.item_clip(layout, str(item_id))),
                      "phash": comparison["reference_phash"]},
        "reproducible": reproducible(comparison, cfg.phash_max_distance, cfg.psnr_min_db),
        "phash_max_distance": cfg.phash_max_distance,
        "psnr_min_db": cfg.psnr_min_db,
        "executed_in_slot_s": telemetry.executed_in_slot(telemetry.playout_tail(layout),
                                                         slot_id),
        "encoder_uptime_s": _status_field(status, "encoder_uptime_s"),
        "kpis": {
            "stream_bitrate": telemetry.stream_bitrate(hls_url),
            "segment_age": _status_field(status, "segment_age_s"),
            "ssim": comparison["ssim"],
            "psnr_db": comparison["psnr_db"],
            "vmaf": comparison["vmaf"],
            "vmaf_live": comparison["vmaf"],
            "phash_distance": comparison["phash_distance"],
            "viewer_count": _status_field(status, "viewer_count"),
        },
    }
    from vvtvlib.vault.schema import write_manifest  # canonical JSON, atomic and durable

    write_manifest(folder / RECORD_NAME, record)
    return record


def _rel(layout: StationLayout, path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.relative_to(layout.root).as_posix()
    except ValueError:
        return str(path)
