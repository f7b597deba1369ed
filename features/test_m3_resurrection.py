"""Step bindings for ``m3_resurrection.feature``: each step calls the revival library."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.plugins.station import writable_copy
from vvtvlib.core.errors import VVTVError
from vvtvlib.core.evidence import verify_chain
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.steps import StepObserver, StepRecord
from vvtvlib.drills.rehearsal import SourceSnapshot
from vvtvlib.revival import (
    Phase,
    RevivalOptions,
    RevivalReport,
    revive,
)
from vvtvlib.vault import generate_keypair, load_public_key, sign_file, table_digests
from vvtvlib.vault.history import GenerationRecord, read_history, write_record
from vvtvlib.vault.minisign import signature_line, verify_file
from vvtvlib.vault.schema import load_manifest

pytestmark = pytest.mark.station
scenarios("m3_resurrection.feature")

BUSINESS = ("plans.sqlite", "queue.sqlite", "metrics.sqlite", "economy.sqlite")


class _DigestsBeforeReactivation(StepObserver):
    """Measures the revived databases once continuity is proven, before workers resume."""

    def __init__(self, target: Path) -> None:
        self.target, self.digests, self.status_up_before_ingest = target, {}, None

    def step_finished(self, record: StepRecord) -> None:
        if record.name == Phase.CONTINUITY:
            self.digests = {db: table_digests(self.target / "data" / db) for db in BUSINESS}
        if record.name == Phase.SANITY:
            self.status_up_before_ingest = record.detail.get("status")


@pytest.fixture(scope="module")
def revived(revival_source: SourceSnapshot, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[RevivalReport, _DigestsBeforeReactivation, Path]:
    base = tmp_path_factory.mktemp("m3-revived")
    target = base / "newnode"
    observer = _DigestsBeforeReactivation(target)
    report = revive(RevivalOptions(snapshots=revival_source.snapshot, target=target,
                                   pubkey=revival_source.pubkey, prove_continuity=True,
                                   strict=True, report_path=base / "report.json",
                                   leave_running=False), observer)
    return report, observer, target


@given("a station's signed ritual snapshot, locked down for hibernation",
       target_fixture="source")
def _source(revival_source: SourceSnapshot) -> SourceSnapshot:
    return revival_source


@when("it is revived on a new node with the continuity proof", target_fixture="outcome")
def _revive(revived: tuple[RevivalReport, Any, Path]) -> tuple[RevivalReport, Any, Path]:
    assert revived[0].succeeded
    return revived


@then("the signature was verified with the pinned foundation key")
def _signature(outcome: Any, source: SourceSnapshot) -> None:
    report = outcome[0]
    assert report.trust["source"] == "--pubkey"
    assert report.trust["key_id"] == load_public_key(source.pubkey).id_hex


@then("every archive and artifact hash equals the manifest")
def _hashes(outcome: Any, source: SourceSnapshot) -> None:
    checked = {c["file"]: c["sha256"] for c in outcome[0].phase(Phase.VERIFY).detail["checked"]}
    manifest = load_manifest(source.snapshot / "last_manifest.json")
    for name, rec in {**manifest.archives, **manifest.artifacts}.items():
        assert checked[name] == rec.sha256


@then("every database passed integrity_check and foreign_key_check and equals the manifest")
def _databases(outcome: Any) -> None:
    dbs = outcome[0].phase(Phase.SANITY).detail["databases"]
    assert set(BUSINESS) <= set(dbs)
    for entry in dbs.values():
        assert entry["integrity_check"] == "ok" and entry["foreign_key_check"] == "ok"
        assert entry["tables_equal"] >= 1


@then("the station answered /status without ingest before the broadcaster started")
def _status(outcome: Any) -> None:
    st = outcome[1].status_up_before_ingest
    assert st["up"] and st["status_http"] == 200 and not st["encoder_running"]


@then("no warning of the revival is critical")
def _no_critical(outcome: Any) -> None:
    assert outcome[0].critical_warnings() == []


@then("the first frame after revival matches the final frame within every threshold")
def _frames(outcome: Any) -> None:
    cont = outcome[0].continuity
    assert cont["passed"] and Path(cont["first_frame"]).is_file()
    by_name = {c["name"]: c for c in cont["checks"]}
    assert by_name["phash_distance"]["value"] <= cont["thresholds"]["phash_max_distance"]
    assert by_name["psnr_db"]["value"] >= cont["thresholds"]["psnr_min_db"]
    assert by_name["ssim"]["value"] >= cont["thresholds"]["ssim_min"]


@then("the playout item, plan, slot and offset match the recorded position")
def _playout(outcome: Any) -> None:
    cont = outcome[0].continuity
    for key in ("item_id", "plan_id", "slot_id"):
        assert cont["revived"][key] == cont["recorded"][key]
    assert abs(cont["revived"]["offset_s"] - cont["recorded"]["offset_s"]) <= \
        cont["thresholds"]["offset_tolerance_s"]


@then("the new node holds resurrection_report.json signed by its node key")
def _report(outcome: Any) -> None:
    target = outcome[2]
    layout = StationLayout.at(target)
    path = layout.vault / "resurrection_report.json"
    node_pub = load_public_key(layout.keys / "node_ed25519.pub")
    verify_file(node_pub, path, path.with_name(path.name + ".sig"))
    assert json.loads(path.read_text())["status"] == "succeeded"
    assert (layout.keys / "node_ed25519").stat().st_mode & 0o077 == 0


@then("resurrection_report.jsonl is an intact chain with one line per phase")
def _jsonl(outcome: Any) -> None:
    path = StationLayout.at(outcome[2]).vault / "resurrection_report.jsonl"
    assert verify_chain(path).ok
    phases = [json.loads(line)["phase"] for line in path.read_text().splitlines()]
    assert phases == [str(p) for p in Phase] + ["final"]


@then("the history gains the next generation whose ancestor is the snapshot's signature")
def _history(outcome: Any, source: SourceSnapshot) -> None:
    report, _, target = outcome
    records = read_history(StationLayout.at(target).history)
    assert records[-1].generation == report.source_generation + 1 == report.new_generation
    assert records[-1].kind == "revival"
    assert records[-1].ancestor_signature == signature_line(source.snapshot / "signature.sig")


@then("the revived databases equal the original station's, table by table")
def _rpo(outcome: Any, source: SourceSnapshot, source_lockdown: dict[str, Any]
         ) -> None:
    revived_digests = outcome[1].digests
    original = {db: table_digests(source.root / "data" / db) for db in BUSINESS}
    assert revived_digests == original
    assert all(d[t].rows for d in original.values() for t in d if t == "queue")
    assert source_lockdown["ok"], source_lockdown["error"]


# ---------------------------------------------------------------- refusals


def _fault(name: str, snap: Path, work: Path, source: SourceSnapshot) -> dict[str, Any]:
    target = work / "newnode"
    opts: dict[str, Any] = {"pubkey": source.pubkey}
    if name == "one archive byte flipped":
        archive = snap / "snapshot_data.tar.zst"
        data = bytearray(archive.read_bytes())
        data[len(data) // 2] ^= 0x01
        archive.write_bytes(bytes(data))
    elif name == "a manifest signed by an untrusted key":
        generate_keypair(work / "rogue")
        sign_file(work / "rogue", snap / "last_manifest.json", snap / "signature.sig")
    elif name == "a wrong --pubkey":
        generate_keypair(work / "other")
        opts["pubkey"] = work / "other.pub"
    elif name == "blocklisted content":
        manifest = load_manifest(snap / "last_manifest.json")
        media = next(f for f in manifest.archives["snapshot_data.tar.zst"].files
                     if f.type == "file" and f.path.startswith("storage/ready"))
        (work / "blocklist.json").write_text(json.dumps(
            {"schema": "vvtv.blocklist/1", "sha256": [{"sha256": media.sha256}]}))
        opts["blocklists"] = [work / "blocklist.json"]
    elif name == "an older generation than the node's":
        write_record(target / "vault" / "history", GenerationRecord(
            7, "revival", "elsewhere", "2030-01-01_0000Z", "2030-01-01T00:00:00.000Z",
            "SIG7", "SIG6"))
    else:
        raise AssertionError(name)
    return opts


@given(parsers.parse("a copy of the snapshot with {fault}"), target_fixture="attempt")
def _copy_with_fault(fault: str, source: SourceSnapshot, tmp_path: Path) -> dict[str, Any]:
    snap = writable_copy(source.snapshot, tmp_path / "snapshot")
    opts = _fault(fault, snap, tmp_path, source)
    target = tmp_path / "newnode"
    before = sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) \
        if target.exists() else None
    return {"snap": snap, "target": target, "opts": opts, "before": before,
            "report_path": tmp_path / "resurrection_report.json"}


@when("a revival onto a new node is attempted", target_fixture="refusal")
def _attempt(attempt: dict[str, Any]) -> VVTVError:
    with pytest.raises(VVTVError) as err:
        revive(RevivalOptions(snapshots=attempt["snap"], target=attempt["target"],
                              report_path=attempt["report_path"], **attempt["opts"]))
    assert isinstance(err.value.journal, RevivalReport)
    return err.value


@then(parsers.parse("it is refused in the {phase} phase with a report naming {named}"))
def _refused(refusal: VVTVError, attempt: dict[str, Any], phase: str, named: str) -> None:
    report = json.loads(attempt["report_path"].read_text())
    assert report["status"] == "failed" and report["failure"]["phase"] == phase
    assert named in json.dumps(report["failure"]), report["failure"]
    assert refusal.exit_code == 1


@then("the new node is left exactly as it was")
def _untouched(attempt: dict[str, Any]) -> None:
    target = attempt["target"]
    after = sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) \
        if target.exists() else None
    assert after == attempt["before"]
    assert not [p for p in target.parent.iterdir() if ".revive-" in p.name]
    shutil.rmtree(attempt["snap"])
