"""The guardian still alerts on a file whose name is not UTF-8, and never re-anchors a report
log that was truncated or deleted: it alerts in the tamper log and resume refuses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.plugins.station import FakeStation, LabSnapshot
from vvtvlib.cli import sleepguardd
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import VVTVError
from vvtvlib.core.evidence import EvidenceLog, verify_chain
from vvtvlib.guardian import Guardian, GuardianOptions, GuardianPaths
from vvtvlib.hibernation import resume

Locked = tuple[LabSnapshot, FakeStation]
ODD = b"intruder-\xff\xfe.bin"  # not UTF-8


def _odd_file(folder: Path) -> str:
    full = os.path.join(os.fsencode(folder), ODD)
    with open(full, "wb") as fh:
        fh.write(b"not part of the snapshot\n")
    return os.fsdecode(full)


def _guardian(snap: LabSnapshot, **kw: object) -> Guardian:
    options = GuardianOptions(sample=4, watch=False, interval_s=0)
    return Guardian(GuardianPaths(snap.layout), options, **kw)  # type: ignore[arg-type]


def test_cycle_alerts_on_a_non_utf8_file_name(lab: LabSnapshot) -> None:
    g = _guardian(lab, clock=FakeClock())
    assert g.cycle().divergences == []
    _odd_file(lab.folder)
    report = g.cycle()
    rel = f"vault/snapshots/{lab.stamp}/".encode() + ODD
    hits = [d for d in report.divergences if os.fsencode(d.path) == rel]
    assert [d.kind for d in hits] == ["new"]
    paths = GuardianPaths(lab.layout)
    chain = verify_chain(paths.report)
    assert chain.ok and chain.lines == 2, chain
    last = json.loads(paths.report.read_bytes().splitlines()[-1])
    assert last["alert"] is True
    shown = [d for d in last["divergences"] if d.get("path_hex")]
    assert len(shown) == 1 and bytes.fromhex(shown[0]["path_hex"]) == rel
    assert shown[0]["path"].endswith("intruder-\\xff\\xfe.bin")


def test_non_utf8_name_in_the_baseline_is_guarded_too(lab: LabSnapshot) -> None:
    odd = _odd_file(lab.folder)
    g = _guardian(lab, clock=FakeClock())
    assert g.cycle().divergences == []  # in the baseline now: no false alarm
    os.chmod(odd, 0o606)
    report = g.cycle()
    assert [d.kind for d in report.divergences if d.path.endswith(os.fsdecode(ODD))] == ["mode"]
    assert "intruder-\\xff\\xfe.bin: mode" in report.divergences[0].sentence()


def test_command_line_prints_the_alert_for_a_non_utf8_name(lab: LabSnapshot) -> None:
    runner = CliRunner()
    args = ["--root", str(lab.layout.root), "--once", "--sample", "4", "--no-watch"]
    assert runner.invoke(sleepguardd.app, args).exit_code == 0
    _odd_file(lab.folder)
    res = runner.invoke(sleepguardd.app, args)
    assert res.exit_code == 1, res.output
    assert "intruder-\\xff\\xfe.bin: new" in res.stderr and "Traceback" not in res.output


def test_truncated_report_is_not_re_anchored_but_alerted(lab: LabSnapshot) -> None:
    g = _guardian(lab, clock=FakeClock())
    g.run(3)
    paths = GuardianPaths(lab.layout)
    kept = paths.report.read_bytes().splitlines(keepends=True)[:1]
    paths.report.write_bytes(b"".join(kept))  # two cycles of evidence removed
    seen: list[dict[str, object]] = []
    again = _guardian(lab, clock=FakeClock(), observer=seen.append)
    run = again.run(1)
    assert not run.ok and run.tampered and "truncated" in run.tampered[0]
    assert paths.report.read_bytes() == b"".join(kept)  # left as found
    assert not verify_chain(paths.report).ok
    alerts = list(EvidenceLog(paths.tamper).entries())
    # one alert at start (found before any cycle), one for the cycle it could not record
    assert [a["type"] for a in alerts] == ["tamper", "tamper"]
    assert alerts[1]["unrecorded"]["type"] == "cycle"
    assert verify_chain(paths.tamper).ok
    assert [e["type"] for e in seen] == ["tamper", "tamper"]
    res = CliRunner().invoke(sleepguardd.app, ["--root", str(lab.layout.root), "--once",
                                               "--no-watch"])
    assert res.exit_code == 1 and "ALERT evidence tampered" in res.stderr


def test_resume_refuses_after_the_report_was_truncated(locked: Locked) -> None:
    snap, station = locked
    paths = GuardianPaths(snap.layout)
    _guardian(snap).run(2)  # real clock: its lines fall after lockdown
    lines = paths.report.read_bytes().splitlines(keepends=True)
    paths.report.write_bytes(lines[0])
    _guardian(snap).run(1)  # today this re-anchored the chain and resume saw all clear
    with pytest.raises(VVTVError) as err:
        resume(snap.layout, station=station)
    report = err.value.journal
    step = report.step("guardian_report")
    assert not report.ok and step.status == "failed", report.to_dict()
    assert "tampered" in step.summary and "truncated" in step.summary
    assert station.calls == ["freeze", "down"]  # nothing brought up


def test_resume_refuses_a_deleted_report_whose_head_remains(locked: Locked) -> None:
    snap, station = locked
    paths = GuardianPaths(snap.layout)
    _guardian(snap).run(1)
    paths.report.unlink()
    with pytest.raises(VVTVError) as err:
        resume(snap.layout, station=station)
    report = err.value.journal
    step = report.step("guardian_report")
    assert not report.ok and step.status == "failed" and "deleted" in step.summary


def test_non_json_last_line_in_the_report_is_an_alert_not_a_traceback(lab: LabSnapshot) -> None:
    g = _guardian(lab, clock=FakeClock())
    g.run(2)
    paths = GuardianPaths(lab.layout)
    with paths.report.open("ab") as fh:
        fh.write(b'{"type": "cycle", not json\n')
    run = _guardian(lab, clock=FakeClock()).run(1)
    assert not run.ok and "after line 2" in run.tampered[0]
    res = CliRunner().invoke(sleepguardd.app, ["--root", str(lab.layout.root), "--once",
                                               "--no-watch"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "ALERT evidence tampered" in res.stderr


def test_lockdown_and_resume_of_a_tree_with_a_non_utf8_name(tmp_path: Path) -> None:
    from tests.plugins.station import make_lab_snapshot, unlock_tree
    from vvtvlib.hibernation import LockdownOptions, lockdown

    snap = make_lab_snapshot(tmp_path / "st")
    try:
        _odd_file(snap.folder)
        station = FakeStation()
        locked = lockdown(snap.layout, LockdownOptions(guardian=False), station=station)
        assert locked.ok, locked.to_dict()
        assert _guardian(snap).run(1).ok
        done = resume(snap.layout, station=station)
        assert done.ok, done.to_dict()
    finally:
        unlock_tree(tmp_path)


def test_lockdown_with_a_broken_journal_stops_with_that_error(tmp_path: Path) -> None:
    from tests.plugins.station import make_lab_snapshot, unlock_tree
    from vvtvlib.core.evidence import EvidenceTampered
    from vvtvlib.guardian import current_state, is_immutable
    from vvtvlib.hibernation import LockdownOptions, journal_path, lockdown

    snap = make_lab_snapshot(tmp_path / "st")
    try:
        journal = journal_path(snap.layout)
        journal.write_bytes(b'{"checklist": "lockdown", not json\n')  # and no head anchor
        station = FakeStation()
        with pytest.raises(EvidenceTampered) as err:
            lockdown(snap.layout, LockdownOptions(guardian=False), station=station)
        report = err.value.journal
        assert not report.ok and isinstance(report.error, EvidenceTampered)
        assert str(journal) in report.error.message
        assert report.step("state").status == "failed"
        assert report.step("services").status == "not run" and station.calls == []
        assert not is_immutable(snap.folder / "final_frame.jpg")
        assert current_state(GuardianPaths(snap.layout)) is None
    finally:
        unlock_tree(tmp_path)
