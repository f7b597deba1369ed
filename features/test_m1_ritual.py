"""Step bindings for ``m1_ritual.feature``: each step calls the ritual library on a real
station (one station runs the ritual once for the four acceptance scenarios; another stays on
air for the refusals)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.plugins.station import FAST, corrupt_database, provision, running, state_of
from vvtvlib.core.errors import PrecheckFailed
from vvtvlib.core.layout import StationLayout
from vvtvlib.ritual import RitualJournal, RitualOptions, reproducibility, run_ritual
from vvtvlib.ritual.finalframe import FinalFrameRecord
from vvtvlib.station.control import status
from vvtvlib.vault.folder import verify_snapshot
from vvtvlib.vault.minisign import load_public_keys

pytestmark = [pytest.mark.station, pytest.mark.timeout(300)]
scenarios("m1_ritual.feature")


@pytest.fixture(scope="module")
def ritual_done(tmp_path_factory: pytest.TempPathFactory) -> tuple[StationLayout, RitualJournal]:
    layout = provision(tmp_path_factory.mktemp("m1-sealed") / "vvtv")
    with running(layout):
        journal = run_ritual(layout, RitualOptions(overrides=FAST))
    return layout, journal


@pytest.fixture(scope="module")
def on_air(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StationLayout]:
    layout = provision(tmp_path_factory.mktemp("m1-on-air") / "vvtv")
    with running(layout):
        yield layout


@given("a live station that went through the shutdown ritual", target_fixture="done")
def _done(ritual_done: tuple[StationLayout, RitualJournal]) -> dict[str, Any]:
    layout, journal = ritual_done
    assert journal.ok
    return {"layout": layout, "journal": journal, "folder": Path(journal.snapshot_dir or "")}


@then("the signature verifies with the pinned foundation key", target_fixture="verified")
def _signature(done: dict[str, Any]) -> Any:
    keys = load_public_keys(done["layout"].trusted_keys)
    verified = verify_snapshot(done["folder"], keys)
    assert verified.signature.key_id == keys[0].id_hex
    return verified


@then("every archive and artifact hash equals the manifest")
def _hashes(verified: Any) -> None:
    kinds = [c.kind for c in verified.checked]
    assert kinds.count("archive") == 3
    assert kinds.count("artifact") == 3  # the frame, its record and the playbook


def _manifest(done: dict[str, Any]) -> dict[str, Any]:
    return json.loads((done["folder"] / "last_manifest.json").read_text())


@then("the manifest records versions, selection seeds and the business-logic hash")
def _versions(done: dict[str, Any]) -> None:
    m = _manifest(done)
    assert all(m["versions"][k] for k in ("vvtvlib", "python", "ffmpeg", "sqlite"))
    assert "nginx" in m["versions"] and m["selection_seeds"]
    assert len(m["business_logic_sha256"]) == 64 and m["playout"]["item_id"]


@then("the manifest records every archived file with its size and hash")
def _files(done: dict[str, Any]) -> None:
    for rec in _manifest(done)["archives"].values():
        files = [f for f in rec["files"] if f["type"] == "file"]
        assert files and all(len(f["sha256"]) == 64 for f in files) and rec["root_sha256"]


@then("a copy of the manifest and its signature is in vault/manifests")
def _copy(done: dict[str, Any]) -> None:
    for name in ("last_manifest.json", "signature.sig"):
        copy = done["layout"].manifests / name
        assert copy.read_bytes() == (done["folder"] / name).read_bytes()


@then("no database has a pending write-ahead log")
def _wal(done: dict[str, Any]) -> None:
    for db in done["layout"].data.glob("*.sqlite"):
        wal = db.with_name(db.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0, wal


@then("the archived databases carry no write-ahead log")
def _archived_wal(done: dict[str, Any]) -> None:
    files = _manifest(done)["archives"]["snapshot_db.tar.zst"]["files"]
    paths = {f["path"] for f in files}
    assert "data/schema.sql" in paths and not any(p.endswith(("-wal", "-shm")) for p in paths)
    assert done["journal"].step("snapshots").detail["wal_bytes_after_checkpoint"]


@then("the mezzanine frame at the recorded item and offset matches the final frame")
def _frame(done: dict[str, Any]) -> None:
    record = FinalFrameRecord.read(done["folder"] / "final_frame.json")
    again = reproducibility(done["layout"], done["folder"] / "final_frame.jpg",
                            record.item_id, record.offset_s)
    assert again.phash_distance <= record.phash_max_distance


@given("a live station on air", target_fixture="station")
def _on_air(on_air: StationLayout) -> StationLayout:
    return on_air


@given(parsers.re(r"(?P<condition>a corrupt database in data|the workers are not paused"
                  r"|no other fault)"), target_fixture="fault")
def _condition(station: StationLayout, condition: str) -> Iterator[str]:
    bad = corrupt_database(station.data / "ledger_archive.sqlite") \
        if condition == "a corrupt database in data" else None
    if condition == "the workers are not paused":
        assert not any(status(station).paused.values())
    yield condition
    if bad is not None:
        bad.unlink()


@when(parsers.parse('the operator runs the ritual with "{override}"'), target_fixture="refusal")
def _run(station: StationLayout, override: str) -> dict[str, Any]:
    before = state_of(station)
    with pytest.raises(PrecheckFailed) as err:
        run_ritual(station, RitualOptions(overrides=[*FAST, override]))
    return {"error": err.value, "before": before}


@then(parsers.parse("the ritual refuses naming the {check} check, its measured value and "
                    "threshold"))
def _refused(refusal: dict[str, Any], check: str) -> None:
    failed = refusal["error"].journal.failed_checks
    assert [c.name for c in failed] == [check]
    assert f"{check}: measured {failed[0].measured}" in refusal["error"].message
    assert "threshold" in refusal["error"].message


@then("nothing on the station has changed")
def _unchanged(station: StationLayout, refusal: dict[str, Any]) -> None:
    assert state_of(station) == refusal["before"]
