"""``final_frame.json`` as a typed record: each fact once in memory, the signed file format
unchanged on disk (its repeated keys included)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vvtvlib.core.evidence import canonical
from vvtvlib.ritual.finalframe import FinalFrameRecord, FrameKpis


def on_disk() -> dict[str, Any]:
    """A record in the format the ritual has always written."""
    return {
        "ts_utc": "2026-01-01T00:10:00.000Z", "slot_id": "slot-3",
        "plan_id_executado": "plan-2", "plan_id": "plan-2", "item_id": "item-0002",
        "offset_s": 12.0, "segment": "seg_000042.ts", "media_sequence": 42,
        "program_date_time": "2026-01-01T00:09:58.000Z",
        "hls_url": "http://127.0.0.1:8080/hls/main.m3u8",
        "ffmpeg_args": ["-probesize", "32768", "-analyzeduration", "500000", "-i",
                        "http://127.0.0.1:8080/hls/seg_000042.ts", "-frames:v", "1", "-q:v",
                        "2", "final_frame.jpg"],
        "ffmpeg_version": "6.1.1", "file": "final_frame.jpg", "sha256": "ab" * 32,
        "size": 12345, "phash": "c3c3c3c3c3c3c3c3",
        "reference": {"item_id": "item-0002", "offset_s": 12.0,
                      "clip": "storage/ready/mezzanine/item-0002.mp4",
                      "phash": "c3c3c3c3c3c3c3c1"},
        "reproducible": True, "phash_max_distance": 8, "psnr_min_db": 40.0,
        "executed_in_slot_s": 24.0, "encoder_uptime_s": 31.5,
        "kpis": {"stream_bitrate": 412000.5, "segment_age": 0.8, "ssim": 1.0,
                 "psnr_db": 99.0, "vmaf": None, "vmaf_live": None, "phash_distance": 1,
                 "viewer_count": None},
    }


def test_the_file_format_round_trips_exactly() -> None:
    data = on_disk()
    record = FinalFrameRecord.from_dict(data)
    assert record.to_dict() == data
    assert FinalFrameRecord.from_dict(record.to_dict()) == record


def test_each_repeated_fact_is_one_field() -> None:
    record = FinalFrameRecord.from_dict(on_disk())
    assert record.plan_id == "plan-2" and record.item_id == "item-0002"
    assert record.reference_clip == "storage/ready/mezzanine/item-0002.mp4"
    assert record.kpis == FrameKpis(412000.5, 0.8, 1.0, 99.0, None, 1, None)
    changed = FinalFrameRecord.from_dict({**on_disk(), "plan_id": "plan-9",
                                          "offset_s": 14.0}).to_dict()
    assert changed["plan_id_executado"] == "plan-9"
    assert changed["reference"]["offset_s"] == 14.0


def test_written_bytes_are_the_canonical_json_of_the_old_record(tmp_path: Path) -> None:
    record = FinalFrameRecord.from_dict(on_disk())
    path = tmp_path / "final_frame.json"
    raw = record.write(path)
    assert raw == path.read_bytes() == canonical(on_disk()) + b"\n"
    assert FinalFrameRecord.read(path) == record
    assert json.loads(raw)["kpis"]["vmaf_live"] is None


def test_the_step_detail_and_last_transmission_read_the_record_itself() -> None:
    from vvtvlib.ritual.report import RitualJournal, render_last_transmission

    record = FinalFrameRecord.from_dict(on_disk())
    detail = record.step_detail()  # the evidence line's detail, as the dict gave it
    assert detail == {k: on_disk()[k] for k in (
        "ts_utc", "slot_id", "plan_id_executado", "item_id", "offset_s", "segment", "phash",
        "reproducible", "kpis")}
    journal = RitualJournal(root="/r", stamp="2026-01-01_0010Z", dry_run=False, strict=False,
                            run_id="r1", station_id="lab", generation=2)
    text = render_last_transmission(journal, record, {})
    assert "| plan executed | plan-2 |" in text and "| item | item-0002 |" in text
    assert "| offset in item | 12 s |" in text and "| PSNR vs mezzanine | 99 dB |" in text
    assert "| stream bitrate | 412,000.5 bit/s |" in text and "| viewers | n/a |" in text
