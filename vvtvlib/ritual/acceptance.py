"""The seed's M1 acceptance criteria, measured on a finished ritual (read-only).

* snapshot verifiable (hashes match) and signature valid;
* ``last_manifest.json`` complete (versions, seeds, hashes, sizes);
* no pending writes in the databases (WAL empty);
* final frame reproducible.

The drill notebook shows these as its PASS/FAIL table; the tests assert the same functions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import VVTVError
from vvtvlib.core.evidence import verify_chain
from vvtvlib.core.layout import StationLayout

from .archives import ARCHIVES, wal_sizes
from .report import RitualJournal

REQUIRED_VERSIONS = ("vvtvlib", "python", "ffmpeg", "sqlite")
PLAYOUT_KEYS = ("slot_id", "plan_id", "item_id", "offset_s")


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def manifest_gaps(m: dict[str, Any]) -> list[str]:
    """What a complete ``vvtv.manifest/1`` lacks (empty when complete). Pure."""
    gaps = [f"versions.{k}" for k in REQUIRED_VERSIONS if not (m.get("versions") or {}).get(k)]
    if "nginx" not in (m.get("versions") or {}):
        gaps.append("versions.nginx")
    if not m.get("selection_seeds"):
        gaps.append("selection_seeds")
    if not m.get("business_logic_sha256"):
        gaps.append("business_logic_sha256")
    gaps += [f"playout.{k}" for k in PLAYOUT_KEYS if (m.get("playout") or {}).get(k) is None]
    ff = m.get("final_frame") or {}
    gaps += [f"final_frame.{k}" for k in ("sha256", "phash") if not ff.get(k)]
    if not m.get("databases"):
        gaps.append("databases")
    for name in ARCHIVES:
        rec = (m.get("archives") or {}).get(name)
        if not rec:
            gaps.append(f"archives.{name}")
            continue
        files = [f for f in rec.get("files", []) if f.get("type") == "file"]
        if not files or any(not f.get("sha256") or f.get("size") is None for f in files):
            gaps.append(f"archives.{name}.files")
        if not rec.get("sha256") or rec.get("size") is None:
            gaps.append(f"archives.{name}.sha256")
    return gaps


def evaluate_run(layout: StationLayout, journal: RitualJournal) -> list[Criterion]:
    """Every acceptance criterion of a finished (real or rehearsal) ritual."""
    from vvtvlib.vault.folder import MANIFEST, verify_snapshot
    from vvtvlib.vault.trust import resolve_station_keys

    from .finalframe import FinalFrameRecord, reproducibility, reproducible

    out: list[Criterion] = []
    folder = Path(journal.snapshot_dir or "")
    try:
        verified = verify_snapshot(folder, resolve_station_keys(layout, snapshot_dir=folder))
        out.append(Criterion("snapshot verifiable and signature valid", True,
                             f"key {verified.signature.key_id}, {len(verified.checked)} files "
                             "checked"))
    except VVTVError as exc:
        out.append(Criterion("snapshot verifiable and signature valid", False, exc.message))
    manifest = json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).is_file() \
        else {}
    gaps = manifest_gaps(manifest)
    out.append(Criterion("last_manifest.json complete", not gaps,
                         "all fields present" if not gaps else "missing: " + ", ".join(gaps)))
    pending = {k: v for k, v in wal_sizes(layout.data).items() if v}
    out.append(Criterion("no pending writes (WAL empty)", not pending,
                         "every -wal empty or absent" if not pending else str(pending)))
    record_path = folder / "final_frame.json"
    try:
        record: FinalFrameRecord | None = FinalFrameRecord.read(record_path)
        unreadable = ""
    except FileNotFoundError:
        record, unreadable = None, "no final_frame.json"
    except (ValueError, KeyError, TypeError) as exc:
        record, unreadable = None, f"final_frame.json cannot be read: {exc!r}"
    if record is not None:
        again = reproducibility(layout, folder / "final_frame.jpg", record.item_id,
                                record.offset_s)
        ok = reproducible(again, record.phash_max_distance, record.psnr_min_db)
        out.append(Criterion("final frame reproducible", ok,
                             f"phash distance {again.phash_distance} (<= "
                             f"{record.phash_max_distance}), PSNR {again.psnr_db} dB "
                             f"(>= {record.psnr_min_db:g}), SSIM {again.ssim}, "
                             f"VMAF {again.vmaf}"))
    else:
        out.append(Criterion("final frame reproducible", False, unreadable))
    chain = verify_chain(layout.vault / "m1_artifacts.jsonl")
    out.append(Criterion("m1_artifacts.jsonl chain intact", chain.ok,
                         f"{chain.lines} lines" if chain.ok else str(chain.reason)))
    return out
