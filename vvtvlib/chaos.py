"""Chaos Toolkit providers for the seed's M3 chaos drills (``chaos/*.json``).

Activities are plain functions taking primitives (Chaos Toolkit passes JSON arguments), and
return JSON-able values for the journal. Every drill works inside ``<lab_dir>/drills/<name>/``
on a copy of the lab's source snapshot, so the source is never harmed:

    ensure_lab(lab_dir)                      a lab station with one signed ritual snapshot
    copy_snapshot(lab_dir, drill)            a private copy of it for this drill
    corrupt_snapshot_file(lab_dir, drill, file)          flip one byte of one file
    set_recorded_ffmpeg_version(lab_dir, drill, version) as if the source ran another FFmpeg
    revive_expect_failure(lab_dir, drill)    revive; an exception if it did NOT fail
    revive_snapshot(lab_dir, drill)          revive; the report summary
    probes: snapshot_verifies, target_untouched, revival_refused_cleanly, revival_succeeded,
            ffmpeg_divergence_warned, encoder_preset_adapted
    rollback: stop_revived_station
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import CheckFailed, VVTVError
from vvtvlib.core.layout import StationLayout

SOURCE = "source"


def _drill(lab_dir: str, drill: str) -> Path:
    return Path(lab_dir).absolute() / "drills" / drill


def _paths(lab_dir: str, drill: str) -> dict[str, Path]:
    base = _drill(lab_dir, drill)
    return {"base": base, "snapshot": base / "snapshot", "target": base / "target",
            "report": base / "resurrection_report.json"}


def _source(lab_dir: str) -> Any:
    from vvtvlib.drills.rehearsal import describe

    return describe(Path(lab_dir).absolute() / SOURCE)


def ensure_lab(lab_dir: str = "lab/chaos", items: int = 2, clip_seconds: int = 12) -> dict:
    """Reuse the lab's source snapshot, or make one (a small station and its ritual)."""
    from vvtvlib.drills.rehearsal import newest_snapshot, prepare_source

    root = Path(lab_dir).absolute() / SOURCE
    if newest_snapshot(root) is None:
        if root.exists():
            shutil.rmtree(root)
        return prepare_source(root, items=items, clip_seconds=clip_seconds).to_dict()
    return _source(lab_dir).to_dict()


def copy_snapshot(lab_dir: str, drill: str) -> dict:
    p = _paths(lab_dir, drill)
    if p["base"].exists():
        stop_revived_station(lab_dir, drill)
        shutil.rmtree(p["base"])
    p["base"].mkdir(parents=True)
    shutil.copytree(_source(lab_dir).snapshot, p["snapshot"])
    return {"snapshot": str(p["snapshot"]), "target": str(p["target"])}


def corrupt_snapshot_file(lab_dir: str, drill: str, file: str = "snapshot_data.tar.zst",
                          offset: int | None = None) -> dict:
    """Flip one bit of one byte (the middle one by default) of a file in the drill's copy."""
    from vvtvlib.vault.manifest import sha256_file

    path = _paths(lab_dir, drill)["snapshot"] / file
    before, size = sha256_file(path)
    at = size // 2 if offset is None else offset
    with path.open("r+b") as fh:
        fh.seek(at)
        byte = fh.read(1)
        fh.seek(at)
        fh.write(bytes([byte[0] ^ 0x01]))
    after, _ = sha256_file(path)
    return {"file": file, "offset": at, "sha256_before": before, "sha256_after": after}


def set_recorded_ffmpeg_version(lab_dir: str, drill: str, version: str = "4.4.2") -> dict:
    """Rewrite the manifest's ``versions.ffmpeg`` and re-seal it with the lab's foundation key,
    as a snapshot made on a node with another FFmpeg would be."""
    from vvtvlib.vault.folder import MANIFEST, seal_snapshot

    folder = _paths(lab_dir, drill)["snapshot"]
    manifest = json.loads((folder / MANIFEST).read_text())
    before = manifest["versions"].get("ffmpeg")
    manifest["versions"]["ffmpeg"] = version
    seal_snapshot(folder, manifest, _source(lab_dir).secret_key)
    return {"recorded_before": before, "recorded_after": version}


def _options(lab_dir: str, drill: str, prove_continuity: bool) -> Any:
    from vvtvlib.revival import RevivalOptions

    p = _paths(lab_dir, drill)
    return RevivalOptions(snapshots=p["snapshot"], target=p["target"],
                          pubkey=_source(lab_dir).pubkey, report_path=p["report"],
                          prove_continuity=prove_continuity, leave_running=False)


def revive_expect_failure(lab_dir: str, drill: str) -> dict:
    """Revive the drill's snapshot; it must be refused. Returns the failure section."""
    from vvtvlib.revival import RevivalReport, revive

    try:
        report = revive(_options(lab_dir, drill, prove_continuity=False))
    except VVTVError as exc:
        if not isinstance(exc.journal, RevivalReport):
            raise
        return exc.journal.failure or {}
    raise CheckFailed(f"the revival of {drill} succeeded (generation {report.new_generation}) "
                      "but it had to be refused")


def revive_snapshot(lab_dir: str, drill: str, prove_continuity: bool = True) -> dict:
    """Revive the drill's snapshot end to end (stopping the revived station afterwards)."""
    from vvtvlib.revival import revive

    report = revive(_options(lab_dir, drill, prove_continuity))
    return {"status": report.status, "rto_s": report.rto_s,
            "new_generation": report.new_generation,
            "divergences": [f.to_dict() for f in report.divergences],
            "corrections": [f.to_dict() for f in report.corrections],
            "continuity_passed": (report.continuity or {}).get("passed")}


# ---------------------------------------------------------------- probes


def _report(lab_dir: str, drill: str) -> dict:
    path = _paths(lab_dir, drill)["report"]
    return json.loads(path.read_text()) if path.is_file() else {}


def snapshot_verifies(lab_dir: str) -> bool:
    """The lab's source snapshot (never the drill's copy) verifies with the pinned key."""
    from vvtvlib.vault.folder import verify_snapshot
    from vvtvlib.vault.minisign import load_public_keys

    src = _source(lab_dir)
    verify_snapshot(src.snapshot, load_public_keys(src.pubkey))
    return True


def target_untouched(lab_dir: str, drill: str) -> bool:
    return not _paths(lab_dir, drill)["target"].exists()


def revival_refused_cleanly(lab_dir: str, drill: str, file: str) -> bool:
    """The report says the revival failed in verify, names ``file``, and gives expected and
    actual hashes that differ; the target was left untouched."""
    failure = _report(lab_dir, drill).get("failure") or {}
    return (failure.get("phase") == "verify" and str(failure.get("path", "")).endswith(file)
            and bool(failure.get("expected")) and bool(failure.get("actual"))
            and failure.get("expected") != failure.get("actual")
            and failure.get("target_untouched") is True and target_untouched(lab_dir, drill))


def revival_succeeded(lab_dir: str, drill: str) -> bool:
    report = _report(lab_dir, drill)
    return report.get("status") == "succeeded" and bool(
        (report.get("continuity") or {}).get("passed"))


def ffmpeg_divergence_warned(lab_dir: str, drill: str) -> bool:
    return any(d.get("what") == "version:ffmpeg"
               for d in _report(lab_dir, drill).get("divergences", []))


def encoder_preset_adapted(lab_dir: str, drill: str) -> bool:
    return any(str(c.get("what", "")).startswith("encoder.")
               for c in _report(lab_dir, drill).get("corrections", []))


# ---------------------------------------------------------------- rollbacks


def stop_revived_station(lab_dir: str, drill: str) -> dict:
    from vvtvlib.station.supervisor import station_down

    target = _paths(lab_dir, drill)["target"]
    if not (target / "data" / "control.sqlite").exists():
        return {"was_running": False}
    return station_down(StationLayout.at(target)).to_dict()
