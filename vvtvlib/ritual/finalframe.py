from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.errors import CheckFailed
from vvtvlib.core.layout import StationLayout

from . import probe, telemetry
from .config import FinalFrame

if TYPE_CHECKING:
    from vvtvlib.station.api import StationStatus

FRAME_NAME = "final_frame.jpg"
RECORD_NAME = "final_frame.json"


@dataclass(frozen=True)
class FrameKpis:
    """The final frame's numbers: stream, freshness and how close it is to the mezzanine."""

    stream_bitrate: float | None
    segment_age: float | None
    ssim: float | None
    psnr_db: float | None
    vmaf: float | None
    phash_distance: int | None
    viewer_count: int | None = None  # the lab station counts no viewers


@dataclass(frozen=True)
class FinalFrameRecord:
    """What aired last and how it was captured: ``final_frame.json``, one field per fact.

    The file keeps its signed format, which repeats some facts for its readers
    (``plan_id_executado`` = ``plan_id``, ``kpis.vmaf_live`` = ``kpis.vmaf``,
    ``reference.item_id``/``offset_s`` = ``item_id``/``offset_s``): ``to_dict`` writes the
    repeats, ``from_dict`` reads each fact once.
    """

    ts_utc: str
    item_id: str
    offset_s: float
    slot_id: str | None
    plan_id: str | None
    segment: str | None
    media_sequence: int | None
    program_date_time: str | None
    hls_url: str
    ffmpeg_args: tuple[str, ...]
    ffmpeg_version: str | None
    file: str
    sha256: str
    size: int
    phash: str
    reference_clip: str | None
    reference_phash: str | None
    reproducible: bool
    phash_max_distance: int
    psnr_min_db: float
    executed_in_slot_s: float
    encoder_uptime_s: float | None
    kpis: FrameKpis = field(default_factory=lambda: FrameKpis(None, None, None, None, None,
                                                              None))

    def to_dict(self) -> dict[str, Any]:
        kpis = asdict(self.kpis)
        return {
            "ts_utc": self.ts_utc, "slot_id": self.slot_id,
            "plan_id_executado": self.plan_id, "plan_id": self.plan_id,
            "item_id": self.item_id, "offset_s": self.offset_s, "segment": self.segment,
            "media_sequence": self.media_sequence,
            "program_date_time": self.program_date_time, "hls_url": self.hls_url,
            "ffmpeg_args": list(self.ffmpeg_args), "ffmpeg_version": self.ffmpeg_version,
            "file": self.file, "sha256": self.sha256, "size": self.size, "phash": self.phash,
            "reference": {"item_id": self.item_id, "offset_s": self.offset_s,
                          "clip": self.reference_clip, "phash": self.reference_phash},
            "reproducible": self.reproducible,
            "phash_max_distance": self.phash_max_distance, "psnr_min_db": self.psnr_min_db,
            "executed_in_slot_s": self.executed_in_slot_s,
            "encoder_uptime_s": self.encoder_uptime_s,
            "kpis": {**kpis, "vmaf_live": kpis["vmaf"]},
        }

    def step_detail(self) -> dict[str, Any]:
        """The final-frame step's detail in the ritual's evidence log and journal."""
        data = self.to_dict()
        out = {k: data[k] for k in ("ts_utc", "slot_id", "plan_id_executado", "item_id",
                                    "offset_s", "segment", "phash", "reproducible")}
        out["kpis"] = data["kpis"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinalFrameRecord:
        ref = data.get("reference") or {}
        kpis = data.get("kpis") or {}
        plan_id = data.get("plan_id", data.get("plan_id_executado"))
        return cls(
            ts_utc=data["ts_utc"], item_id=data["item_id"], offset_s=float(data["offset_s"]),
            slot_id=data.get("slot_id"), plan_id=plan_id, segment=data.get("segment"),
            media_sequence=data.get("media_sequence"),
            program_date_time=data.get("program_date_time"), hls_url=data["hls_url"],
            ffmpeg_args=tuple(data.get("ffmpeg_args") or ()),
            ffmpeg_version=data.get("ffmpeg_version"), file=data.get("file", FRAME_NAME),
            sha256=data["sha256"], size=int(data["size"]), phash=data["phash"],
            reference_clip=ref.get("clip"), reference_phash=ref.get("phash"),
            reproducible=bool(data["reproducible"]),
            phash_max_distance=int(data["phash_max_distance"]),
            psnr_min_db=float(data["psnr_min_db"]),
            executed_in_slot_s=float(data.get("executed_in_slot_s") or 0.0),
            encoder_uptime_s=data.get("encoder_uptime_s"),
            kpis=FrameKpis(kpis.get("stream_bitrate"), kpis.get("segment_age"),
                           kpis.get("ssim"), kpis.get("psnr_db"),
                           kpis.get("vmaf", kpis.get("vmaf_live")),
                           kpis.get("phash_distance"), kpis.get("viewer_count")))

    @classmethod
    def read(cls, path: Path) -> FinalFrameRecord:
        return cls.from_dict(json.loads(path.read_text()))

    def write(self, path: Path) -> bytes:
        """Canonical JSON, atomic and durable (the format the manifest signs)."""
        from vvtvlib.vault.schema import write_manifest

        return write_manifest(path, self.to_dict())


def reference_frame(layout: StationLayout, item_id: str, offset_s: float, out: Path) -> Path:
    """The mezzanine frame at (item, offset): what the live frame must look like."""
    from vvtvlib.media.ffmpeg import extract_frame

    clip = probe.item_clip(layout, item_id)
    if clip is None:
        raise CheckFailed(f"no mezzanine clip is known for item {item_id}", actual=item_id)
    return extract_frame(clip, offset_s, out)


@dataclass(frozen=True)
class Reproduction:
    """A frame compared with the mezzanine frame at its (item, offset)."""

    phash_distance: int
    psnr_db: float | None
    ssim: float
    vmaf: float | None
    reference_phash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reproducibility(layout: StationLayout, frame: Path, item_id: str, offset_s: float,
                    *, vmaf: bool = True) -> Reproduction:
    """Re-extract the reference frame and compare; a fresh temporary file each time."""
    from vvtvlib.media.compare import compare_frames, phash
    from vvtvlib.media.ffmpeg import ffmpeg_exe

    with tempfile.TemporaryDirectory(prefix="vvtv-ref-") as tmp:
        ref = reference_frame(layout, item_id, offset_s, Path(tmp) / "reference.jpg")
        cmp = compare_frames(frame, ref)
        score = telemetry.vmaf_score(frame, ref, ffmpeg_exe()) if vmaf else None
        ref_phash = phash(ref)
    return Reproduction(cmp.phash_distance, cmp.psnr_db, cmp.ssim, score, ref_phash)


def reproducible(comparison: Reproduction, phash_max_distance: int, psnr_min_db: float
                 ) -> bool:
    """The live frame is the mezzanine frame at (item, offset): close in perceptual hash
    and in pixels (the hash alone passes a frame two seconds away on slow content)."""
    psnr = comparison.psnr_db
    return (comparison.phash_distance <= phash_max_distance
            and psnr is not None and psnr >= psnr_min_db)


def capture(layout: StationLayout, status: StationStatus, folder: Path, cfg: FinalFrame,
            *, clock: Clock = SYSTEM_CLOCK) -> FinalFrameRecord:
    """Write ``final_frame.jpg`` and ``final_frame.json`` into ``folder``; return the record."""
    from vvtvlib.media.compare import phash
    from vvtvlib.media.ffmpeg import ffmpeg_exe, ffmpeg_version, grab_live_frame
    from vvtvlib.station.playout import find_entry
    from vvtvlib.vault.manifest import sha256_file

    hls_url = status.hls_url
    if not hls_url:
        raise CheckFailed("the station reports no HLS URL; cannot capture the final frame")
    frame = folder / FRAME_NAME
    ts = utc_iso(clock.now())
    grab = grab_live_frame(hls_url, frame, timeout_s=cfg.grab_timeout_s)
    # The frame's metadata must be that segment's own playout line, never "what is playing
    # now": the tracker can lag the playlist, and a guess one segment off would send the
    # revival to the wrong frame.
    entry = (find_entry(layout, grab.segment, timeout_s=cfg.grab_timeout_s,
                        sequence=grab.media_sequence) if grab.segment else None)
    if entry is None:
        raise CheckFailed(f"the playout log does not name the grabbed segment {grab.segment} "
                          f"(sequence {grab.media_sequence}); cannot tell which frame aired",
                          path=layout.broadcast / "playout.jsonl", expected=grab.segment)
    item_id = str(entry.item_id)
    comparison = reproducibility(layout, frame, item_id, entry.offset_s, vmaf=cfg.vmaf)
    digest, size = sha256_file(frame)
    exe = ffmpeg_exe()
    record = FinalFrameRecord(
        ts_utc=ts, item_id=item_id, offset_s=entry.offset_s,
        slot_id=entry.slot_id, plan_id=entry.plan_id, segment=grab.segment,
        media_sequence=grab.media_sequence,
        program_date_time=grab.program_date_time or entry.program_date_time, hls_url=hls_url,
        ffmpeg_args=("-probesize", "32768", "-analyzeduration", "500000", "-i",
                     grab.segment_url or hls_url, "-frames:v", "1", "-q:v", "2", FRAME_NAME),
        ffmpeg_version=ffmpeg_version(exe), file=FRAME_NAME, sha256=digest, size=size,
        phash=phash(frame), reference_clip=_rel(layout, probe.item_clip(layout, item_id)),
        reference_phash=comparison.reference_phash,
        reproducible=reproducible(comparison, cfg.phash_max_distance, cfg.psnr_min_db),
        phash_max_distance=cfg.phash_max_distance, psnr_min_db=cfg.psnr_min_db,
        executed_in_slot_s=telemetry.executed_in_slot(telemetry.playout_tail(layout),
                                                      entry.slot_id),
        encoder_uptime_s=status.encoder_uptime_s,
        kpis=FrameKpis(stream_bitrate=telemetry.stream_bitrate(hls_url),
                       segment_age=status.segment_age_s, ssim=comparison.ssim,
                       psnr_db=comparison.psnr_db, vmaf=comparison.vmaf,
                       phash_distance=comparison.phash_distance))
    record.write(folder / RECORD_NAME)
    return record


def _rel(layout: StationLayout, path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.relative_to(layout.root).as_posix()
    except ValueError:
        return str(path)
