"""The real ritual on a live station: SIGKILL after each step leaves nothing that looks like a
snapshot and the station can be thawed; then one full run is checked from every side."""

from __future__ import annotations

import json
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from tests.plugins.station import FAST, provision, run_killed, running, wait_stable
from tests.plugins.system import need_tool
from vvtvlib.core.evidence import verify_chain
from vvtvlib.core.layout import StationLayout
from vvtvlib.ritual import (
    REAL_STEPS,
    RitualJournal,
    RitualOptions,
    evaluate_run,
    evidence_log,
    run_ritual,
    thaw,
)
from vvtvlib.ritual.finalframe import reproducibility
from vvtvlib.station.control import status
from vvtvlib.station.supervisor import station_down, station_up
from vvtvlib.vault.folder import restore_snapshot, verify_snapshot
from vvtvlib.vault.minisign import load_public_keys
from vvtvlib.vault.sqlite import integrity_check, table_digests

pytestmark = [pytest.mark.station, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> Iterator[StationLayout]:
    layout = provision(tmp_path_factory.mktemp("ritual") / "vvtv")
    with running(layout):
        yield layout


def _looks_valid(layout: StationLayout) -> list[str]:
    """Snapshot folders a reader would take for real (not a dot-named partial)."""
    if not layout.snapshots.is_dir():
        return []
    return [p.name for p in layout.snapshots.iterdir() if not p.name.startswith(".")]


def test_sigkill_after_each_step_leaves_no_valid_snapshot(station):
    for step in REAL_STEPS[:-1]:  # after "seal" the snapshot is complete: that is the point
        proc = run_killed(station, step, FAST)
        assert proc.returncode == -signal.SIGKILL, (step, proc.stderr[-2000:])
        assert _looks_valid(station) == [], step
        assert not (station.manifests / "last_manifest.json").exists(), step
        assert not any(station.history.glob("generation-*.json")), step
        assert verify_chain(evidence_log(station).path).ok, step
        last = list(evidence_log(station).entries())[-1]
        assert (last["step"], last["status"]) == (step, "ok")
        if not status(station).up:  # killed after the stop: bring it back for the next round
            station_up(station, timeout_s=60)
        thaw(station)
        st = status(station)
        assert not any(st.paused.values()) and not st.queue_frozen, step
        wait_stable(station)
    assert any(p.name.startswith(".") for p in station.snapshots.iterdir())  # stale partials


@pytest.fixture(scope="module")
def sealed(station) -> RitualJournal:
    journal = run_ritual(station, RitualOptions(overrides=FAST, closing_bell=True))
    assert journal.ok, journal.error
    return journal


def test_the_re_run_seals_one_snapshot_and_cleans_stale_partials(station, sealed):
    assert [s.name for s in sealed.steps] == list(REAL_STEPS)
    assert _looks_valid(station) == [sealed.stamp]
    assert not any(p.name.startswith(".") for p in station.snapshots.iterdir())
    assert not status(station).up  # the clean stop brought the station down


def test_snapshot_verifies_with_the_pinned_key(station, sealed):
    verified = verify_snapshot(sealed.snapshot_dir, load_public_keys(station.trusted_keys))
    assert verified.manifest.generation == 1 and verified.manifest.ancestor_signature is None
    assert {c.name for c in verified.checked} >= {"snapshot_db.tar.zst", "snapshot_data.tar.zst",
                                                 "snapshot_system.tar.zst", "final_frame.jpg"}
    folder = Path(sealed.snapshot_dir)
    proc = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_standard_minisign_verifies_the_manifest(station, sealed):
    minisign = need_tool("minisign")
    folder = Path(sealed.snapshot_dir)
    proc = subprocess.run([minisign, "-V", "-p", str(station.foundation_pub), "-m",
                           str(folder / "last_manifest.json"), "-x", str(folder / "signature.sig")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"generation:1\tstamp:{sealed.stamp}" in proc.stdout


def test_manifest_is_complete(station, sealed):
    m = json.loads((Path(sealed.snapshot_dir) / "last_manifest.json").read_text())
    assert m == json.loads((station.manifests / "last_manifest.json").read_text())
    assert all(m["versions"][k] for k in ("vvtvlib", "python", "ffmpeg", "sqlite"))
    assert m["selection_seeds"] and len(m["business_logic_sha256"]) == 64
    assert all(m["playout"][k] is not None for k in ("slot_id", "plan_id", "item_id",
                                                     "offset_s"))
    assert m["final_frame"]["sha256"] and m["final_frame"]["phash"]
    assert set(m["databases"]) == {f"{n}.sqlite" for n in ("plans", "queue", "metrics",
                                                           "economy", "control")}
    assert m["databases"]["queue.sqlite"]["tables"]["queue"]["rows"] > 0
    for name in ("snapshot_db.tar.zst", "snapshot_system.tar.zst", "snapshot_data.tar.zst"):
        files = [f for f in m["archives"][name]["files"] if f["type"] == "file"]
        assert files and all(len(f["sha256"]) == 64 and f["size"] >= 0 for f in files)
    data = {f["path"] for f in m["archives"]["snapshot_data.tar.zst"]["files"]}
    assert any(p.startswith("storage/ready/mezzanine/") for p in data)
    assert any(p.startswith("broadcast/hls/") and p.endswith(".ts") for p in data)
    assert not any(p.startswith(("storage/cache/", "storage/tmp/")) for p in data)
    assert set(m["artifacts"]) == {"final_frame.jpg", "final_frame.json",
                                   "resurrection_playbook.md"}
    playbook = (Path(sealed.snapshot_dir) / "resurrection_playbook.md").read_text()
    assert m["archives"]["snapshot_db.tar.zst"]["sha256"] in playbook
    assert f"item `{m['playout']['item_id']}`" in playbook
    history = json.loads((station.history / "generation-0001.json").read_text())
    assert history["kind"] == "snapshot" and history["manifest_sha256"] == sealed.manifest_sha256


def test_no_pending_writes_wal_empty(station, sealed):
    for db in station.data.glob("*.sqlite"):
        wal = db.with_name(db.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0, wal
    with tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(
            (Path(sealed.snapshot_dir) / "snapshot_db.tar.zst").open("rb")), mode="r|") as tar:
        names = [m.name for m in tar]
    assert "data/schema.sql" in names and not any(n.endswith(("-wal", "-shm")) for n in names)


def test_restored_databases_lose_no_row(station, sealed, tmp_path):
    verified = verify_snapshot(sealed.snapshot_dir, load_public_keys(station.trusted_keys))
    restore_snapshot(verified, tmp_path, archives=["snapshot_db.tar.zst"])
    for name, rec in verified.manifest.databases.items():
        db = tmp_path / "data" / name
        assert integrity_check(db) == []
        got = table_digests(db)
        assert {t: (d.rows, d.sha256) for t, d in got.items()} == \
               {t: (d.rows, d.sha256) for t, d in rec.tables.items()}, name
        # the station (now down) still holds exactly those rows: nothing written after
        live = table_digests(station.data / name)
        if name != "control.sqlite":  # control flags change with the stop itself
            assert live == got, name


def test_final_frame_is_reproducible(station, sealed):
    folder = Path(sealed.snapshot_dir)
    record = json.loads((folder / "final_frame.json").read_text())
    for key in ("ts_utc", "slot_id", "plan_id_executado", "item_id", "offset_s", "ffmpeg_args"):
        assert record[key] is not None, key
    assert set(record["kpis"]) >= {"stream_bitrate", "segment_age", "ssim", "psnr_db", "vmaf",
                                   "viewer_count"}
    again = reproducibility(station, folder / "final_frame.jpg", record["item_id"],
                            record["offset_s"])
    assert again.phash_distance <= record["phash_max_distance"]
    assert again.reference_phash == record["reference"]["phash"]
    assert again.ssim > 0.9


def test_every_acceptance_criterion_passes(station, sealed):
    results = evaluate_run(station, sealed)
    assert len(results) == 5 and all(c.passed for c in results), results


def test_stop_artifacts_and_evidence(station, sealed):
    folder = Path(sealed.snapshot_dir)
    text = (folder / "last_transmission.md").read_text()
    record = json.loads((folder / "final_frame.json").read_text())
    assert record["slot_id"] in text and record["plan_id_executado"] in text
    assert (folder / "closing_bell.mp4").stat().st_size > 1000
    report = verify_chain(evidence_log(station).path)
    assert report.ok
    run = [e for e in evidence_log(station).entries() if e["run_id"] == sealed.run_id]
    assert [e["step"] for e in run] == list(REAL_STEPS)
    assert run[-1]["artifacts"]["last_manifest.json"] == sealed.manifest_sha256


def test_a_new_ritual_after_a_restart_is_the_next_generation(station, sealed):
    station_up(station, timeout_s=60)
    try:
        wait_stable(station)
        journal = run_ritual(station, RitualOptions(overrides=FAST))
    finally:
        station_down(station, timeout_s=20)
    m = json.loads((Path(journal.snapshot_dir) / "last_manifest.json").read_text())
    first = (Path(sealed.snapshot_dir) / "signature.sig").read_text().splitlines()[1]
    assert m["generation"] == 2 and m["ancestor_signature"] == first
    assert journal.stamp != sealed.stamp or journal.snapshot_dir != sealed.snapshot_dir
