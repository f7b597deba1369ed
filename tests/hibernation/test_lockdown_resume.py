"""Lockdown and resume on a lab snapshot, with the in-memory station port."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.plugins.station import (
    FakeStation,
    LabSnapshot,
    fake_status,
    make_lab_snapshot,
    unlock_tree,
)
from vvtvlib.cli import hibernation_cmds
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import VVTVError
from vvtvlib.core.evidence import verify_chain
from vvtvlib.drills.tamper import inject
from vvtvlib.guardian import GuardianPaths, current_state, is_immutable, load_baseline
from vvtvlib.hibernation import (
    LockdownOptions,
    health_problems,
    journal_path,
    lockdown,
    resume,
    write_key_meta,
)

Locked = tuple[LabSnapshot, FakeStation]


def test_lockdown_makes_snapshots_and_manifests_immutable(locked: Locked) -> None:
    snap, station = locked
    paths = GuardianPaths(snap.layout)
    baseline, sha = load_baseline(paths.baseline)
    guarded = [paths.root / e.path for e in baseline.entries]
    assert any(p.parent == snap.layout.manifests for p in guarded)
    assert all(is_immutable(p) for p in guarded)
    with pytest.raises(PermissionError):
        (snap.folder / "final_frame.json").write_text("{}")  # even root cannot
    with pytest.raises(PermissionError):
        (snap.layout.manifests / "new.json").write_text("{}")
    assert baseline.immutability_summary()["chattr"] == len(guarded)
    state = current_state(paths)
    assert state is not None and state.state == "hibernating" and state.hibernating
    assert state.baseline_sha256 == sha and state.snapshot == snap.stamp
    assert station.calls == ["freeze", "down"]
    for db in snap.layout.data.glob("*.sqlite"):
        if db.name != "control.sqlite":
            assert not os.stat(db).st_mode & 0o222, db
    assert verify_chain(journal_path(snap.layout)).ok


def test_lockdown_refuses_without_a_verified_snapshot(tmp_path: Path) -> None:
    snap = make_lab_snapshot(tmp_path / "st")
    try:
        archive = snap.folder / "snapshot_db.tar.zst"
        archive.write_bytes(archive.read_bytes() + b"x")
        with pytest.raises(VVTVError) as err:
            lockdown(snap.layout, LockdownOptions(guardian=False), station=FakeStation())
        report = err.value.journal
        assert not report.ok and report.step("snapshot").status == "failed"
        assert report.error is not None and report.error.exit_code == 1
        assert report.step("immutability").status == "not run"
        assert not is_immutable(snap.folder / "final_frame.jpg")
        assert current_state(GuardianPaths(snap.layout)) is None
    finally:
        unlock_tree(tmp_path)


def test_lockdown_twice_is_refused(locked: Locked) -> None:
    snap, _ = locked
    with pytest.raises(VVTVError) as err:
        lockdown(snap.layout, LockdownOptions(guardian=False), station=FakeStation())
    report = err.value.journal
    assert report.step("state").status == "failed" and report.error is not None
    assert report.error.exit_code == 2


def test_readonly_fallback_is_recorded_and_reversed(tmp_path: Path) -> None:
    snap = make_lab_snapshot(tmp_path / "st")
    try:
        modes = {p: stat.S_IMODE(os.stat(p).st_mode) for p in snap.folder.iterdir()}
        report = lockdown(snap.layout, LockdownOptions(guardian=False, immutability="readonly"),
                          station=FakeStation())
        assert report.ok, report.to_dict()
        assert set(report.step("immutability").detail["summary"]) == {"readonly"}
        assert all(not os.stat(p).st_mode & 0o222 for p in modes)
        t = inject(GuardianPaths(snap.layout), "unflag")  # with modes: write bit given back
        from vvtvlib.guardian import Guardian, GuardianOptions
        cycle = Guardian(GuardianPaths(snap.layout), GuardianOptions(watch=False),
                         clock=FakeClock()).cycle()
        assert [d.kind for d in cycle.divergences if d.path == t.path] == ["mode"]
        os.chmod(snap.layout.root / t.path, modes[snap.layout.root / t.path] & ~0o222)
        done = resume(snap.layout, station=FakeStation())
        assert done.ok, done.to_dict()
        assert {p: stat.S_IMODE(os.stat(p).st_mode) for p in modes} == modes
    finally:
        unlock_tree(tmp_path)


def test_lockdown_rotates_keys_that_expire_within_60_days(tmp_path: Path) -> None:
    snap = make_lab_snapshot(tmp_path / "st")
    try:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        write_key_meta(snap.layout, "foundation_ed25519", expires=now + timedelta(days=20),
                       created=now - timedelta(days=345))
        report = lockdown(snap.layout, LockdownOptions(guardian=False), station=FakeStation())
        assert report.ok, report.to_dict()
        rotated = report.step("keys").detail["rotated"]
        assert [r["key"] for r in rotated] == ["foundation_ed25519"]
        assert Path(rotated[0]["statement"]).exists()
    finally:
        unlock_tree(tmp_path)


def test_resume_restores_in_safe_order_with_proof(locked: Locked) -> None:
    snap, station = locked
    report = resume(snap.layout, station=station)
    assert report.ok, report.to_dict()
    assert station.calls[2:] == ["up_without_ingest", "resume_workers", "start_broadcaster"]
    proof = report.data["state_proof"]
    assert proof["ok"] and proof["databases"] == 3 and not proof["mismatches"]
    assert all(not is_immutable(p) for p in snap.folder.iterdir())
    (snap.folder / "final_frame.json").write_text("{}")  # writable again
    for db in snap.layout.data.glob("*.sqlite"):
        assert os.stat(db).st_mode & 0o200
    awake = current_state(GuardianPaths(snap.layout))
    assert awake is not None and awake.state == "awake" and not awake.hibernating
    steps = [e for e in json.loads("[" + ",".join(
        journal_path(snap.layout).read_text().splitlines()) + "]") if e["checklist"] == "resume"]
    assert [s["step"] for s in steps] == [s.name for s in report.steps]


def test_resume_refuses_when_state_was_lost(locked: Locked) -> None:
    snap, station = locked
    db = snap.layout.db("queue")
    os.chmod(db, 0o644)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM items WHERE id = 3")
    with pytest.raises(VVTVError) as err:
        resume(snap.layout, station=station)
    report = err.value.journal
    assert not report.ok and report.step("state_proof").status == "failed"
    assert "queue.sqlite items rows differ" in report.step("state_proof").summary
    assert report.step("http").status == "not run" and "up_without_ingest" not in station.calls
    assert is_immutable(snap.folder / "signature.sig")  # nothing was unlocked


def test_resume_refuses_a_tampered_vault(locked: Locked) -> None:
    snap, station = locked
    t = inject(GuardianPaths(snap.layout), "flip_byte")
    with pytest.raises(VVTVError) as err:
        resume(snap.layout, station=station)
    report = err.value.journal
    step = report.step("verify")
    assert step.status == "failed" and report.error is not None
    assert "snapshot_data.tar.zst" in step.summary and t.path.endswith("snapshot_data.tar.zst")
    assert station.calls == ["freeze", "down"]  # nothing brought up


def test_resume_on_an_awake_station_is_a_usage_error(lab: LabSnapshot) -> None:
    with pytest.raises(VVTVError) as err:
        resume(lab.layout, station=FakeStation())
    report = err.value.journal
    assert report.error is not None and report.error.exit_code == 2


def test_health_rules() -> None:
    assert health_problems(fake_status(playing={"item_id": "a"})) == []
    assert health_problems(fake_status(paused={"planner": True}, queue_frozen=True,
                                       playing=None)) == ["paused: planner", "queue frozen",
                                                          "nothing playing"]
    assert health_problems(fake_status(up=False, playing={"item_id": "a"})) == [
        "supervisor not up"]


def test_cli_lockdown_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = make_lab_snapshot(tmp_path / "st")
    (snap.layout.data / "control.sqlite").unlink()  # no station here: service steps skip
    app = typer.Typer()
    hibernation_cmds.register(app)
    runner = CliRunner()
    try:
        res = runner.invoke(app, ["lockdown", "--root", str(snap.layout.root), "--no-guardian",
                                  "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert out["ok"] and out["snapshot"] == snap.stamp
        again = runner.invoke(app, ["lockdown", "--root", str(snap.layout.root),
                                    "--no-guardian"])
        assert again.exit_code == 2 and "already hibernating" in again.output
        res = runner.invoke(app, ["resume", "--root", str(snap.layout.root), "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["state_proof"]["ok"]
    finally:
        unlock_tree(tmp_path)
