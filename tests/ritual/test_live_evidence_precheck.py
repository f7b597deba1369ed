"""On a live station: a broken evidence log (``vault/m1_artifacts.jsonl``) refuses the ritual
at the pre-checks, with the station left exactly as it was (on air, not frozen), and the log
left as found."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.station import FAST, provision, running, state_of
from vvtvlib.core.errors import PrecheckFailed
from vvtvlib.core.layout import StationLayout
from vvtvlib.ritual import RitualOptions, evidence_log, run_ritual

pytestmark = [pytest.mark.station, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> Iterator[StationLayout]:
    layout = provision(tmp_path_factory.mktemp("evidence") / "vvtv")
    with running(layout):
        yield layout


def _refused_on_evidence(layout: StationLayout) -> PrecheckFailed:
    log = evidence_log(layout)
    before, log_bytes = state_of(layout), log.path.read_bytes()
    with pytest.raises(PrecheckFailed) as err:
        run_ritual(layout, RitualOptions(overrides=FAST))
    exc = err.value
    assert exc.exit_code == 1 and "nothing was changed" in exc.message
    after = state_of(layout)
    assert after == before, "a refused ritual changed the station"
    assert after["up"] and after["encoder_running"] and not after["queue_frozen"]
    assert not any(after["paused"].values())
    journal = exc.journal  # type: ignore[attr-defined]
    assert [s.name for s in journal.steps] == ["prechecks"]
    assert [c.name for c in journal.failed_checks] == ["evidence_log"]
    assert log.path.read_bytes() == log_bytes  # the broken log is left as found
    return exc


def test_non_json_last_line_refuses_before_the_freeze(station):
    log = evidence_log(station)
    log.append({"event": "m1.step", "step": "earlier", "status": "ok"})
    with log.path.open("ab") as fh:
        fh.write(b'{"event": "m1.step", "seq": 2, torn\n')
    exc = _refused_on_evidence(station)
    assert "m1_artifacts.jsonl" in exc.message and "line 2" in exc.message


def test_truncated_log_refuses_before_the_freeze(station):
    log = evidence_log(station)
    log.path.write_bytes(b"")
    log.head_path.unlink(missing_ok=True)
    for i in range(3):
        log.append({"event": "m1.step", "step": f"earlier-{i}", "status": "ok"})
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:2]))
    exc = _refused_on_evidence(station)
    assert "truncated" in exc.message


def test_signed_manifest_keeps_a_witness_head_of_the_evidence_log(station):
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from vvtvlib.cli import vvtvctl
    from vvtvlib.core.evidence import EvidenceLog

    log = evidence_log(station)
    log.path.unlink(missing_ok=True)  # start the log afresh after the broken ones above
    log.head_path.unlink(missing_ok=True)
    journal = run_ritual(station, RitualOptions(dry_run=True, overrides=FAST))
    manifest = json.loads((Path(journal.snapshot_dir) / "last_manifest.json").read_text())
    witness = manifest["ritual"]["evidence_head"]
    assert witness.startswith("4:")  # prechecks, freeze, final_frame, snapshots
    runner = CliRunner()
    ok = runner.invoke(vvtvctl.app, ["evidence", "verify", str(log.path), "--since", witness])
    assert ok.exit_code == 0, ok.stderr
    entries = list(log.entries())
    log.path.unlink()
    log.head_path.unlink()
    forged = EvidenceLog(log.path)
    for e in entries:  # the same history, one detail rewritten, re-chained and re-anchored
        body = {k: v for k, v in e.items() if k not in ("seq", "ts", "prev_sha256",
                                                        "entry_sha256")}
        if body.get("step") == "freeze":
            body["duration_s"] = 0.0
        forged.append(body)
    bad = runner.invoke(vvtvctl.app, ["evidence", "verify", str(log.path), "--since", witness])
    assert bad.exit_code == 1 and "differs from the witness head" in bad.stderr
