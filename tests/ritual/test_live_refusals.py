"""On a live station: every hard stop refuses and changes nothing; the rehearsal leaves the
station on air and thawed; a drain that times out thaws the station and exits 4."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.plugins.station import FAST, corrupt_database, provision, running, state_of
from vvtvlib.core.errors import PrecheckFailed, TimedOut
from vvtvlib.core.evidence import verify_chain
from vvtvlib.core.layout import StationLayout
from vvtvlib.ritual import RitualOptions, Verdict, evidence_log, run_ritual
from vvtvlib.ritual.probe import cpu_temperature
from vvtvlib.vault.folder import verify_snapshot
from vvtvlib.vault.minisign import load_public_keys

pytestmark = [pytest.mark.station, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> Iterator[StationLayout]:
    # realizer jobs of 6 s: long enough to catch one in progress for the drain timeout test
    layout = provision(tmp_path_factory.mktemp("refusals") / "vvtv",
                       workers={"realizer_job_s": 6.0, "realizer_interval_s": 1.0})
    with running(layout):
        yield layout


def refused(layout: StationLayout, *overrides: str, strict: bool = False) -> PrecheckFailed:
    before = state_of(layout)
    with pytest.raises(PrecheckFailed) as err:
        run_ritual(layout, RitualOptions(overrides=[*FAST, *overrides], strict=strict))
    assert state_of(layout) == before, "a refused ritual changed the station"
    assert err.value.exit_code == 1
    assert "nothing was changed" in err.value.message
    journal = err.value.journal  # type: ignore[attr-defined]
    assert [s.name for s in journal.steps] == ["prechecks"]
    return err.value


def failed_checks(exc: PrecheckFailed) -> dict[str, object]:
    return {c.name: c.measured for c in exc.journal.failed_checks}  # type: ignore[attr-defined]


def test_disk_below_threshold_refuses(station):
    exc = refused(station, "prechecks.disk_free_min_pct=100")
    assert list(failed_checks(exc)) == ["disk_free"]
    assert "threshold > 100 %" in exc.message


def test_unstable_encoder_refuses(station):
    exc = refused(station, "prechecks.encoder_stable_s=86400")
    assert list(failed_checks(exc)) == ["encoder_stable"]


def test_short_buffer_while_not_paused_refuses(station):
    exc = refused(station, "prechecks.queue_min_buffer_s=1000000")
    assert list(failed_checks(exc)) == ["queue_buffer"]
    assert "workers running" in exc.message


def test_corrupt_database_refuses(station):
    bad = corrupt_database(station.data / "ledger_archive.sqlite")
    try:
        exc = refused(station)
        assert list(failed_checks(exc)) == ["db_integrity:ledger_archive.sqlite"]
    finally:
        bad.unlink()


def test_strict_turns_an_unreadable_temperature_into_a_refusal(station):
    readable = cpu_temperature()[0] is not None
    if readable:  # a host with a sensor: strict has nothing to refuse on this account
        return
    exc = refused(station, strict=True)
    assert list(failed_checks(exc)) == ["cpu_temp"]


def test_every_refusal_is_in_the_evidence_log(station):
    refused(station, "prechecks.disk_free_min_pct=100")  # at least one, whatever ran before
    log = evidence_log(station)
    assert verify_chain(log.path).ok
    lines = [e for e in log.entries() if e["step"] == "prechecks"]
    assert lines and all(e["status"] == "failed" for e in lines)
    assert any(c["verdict"] == "fail" for c in lines[-1]["detail"]["checks"])


def test_drain_timeout_thaws_and_exits_4(station):
    from vvtvlib.station.control import status

    seen = {p.name for p in station.tmp.glob("*.mp4")}

    def job_just_started() -> bool:  # a 6 s realizer job writes its output under storage/tmp
        fresh = {p.name for p in station.tmp.glob("*.mp4")} - seen
        return bool(fresh) and status(station).in_progress_by_worker.get("realizer", 0) > 0

    deadline = time.monotonic() + 40
    while not job_just_started():
        assert time.monotonic() < deadline, "no realizer job ever started"
        time.sleep(0.05)
    before = state_of(station)
    with pytest.raises(TimedOut) as err:  # a rehearsal: the station stays up whatever happens
        run_ritual(station, RitualOptions(dry_run=True,
                                          overrides=[*FAST, "freeze.wait_empty_timeout_s=0.2"]))
    assert err.value.exit_code == 4
    after = state_of(station)
    assert after["paused"] == before["paused"] and not after["queue_frozen"]
    assert after["up"] and after["rehearsals"] == before["rehearsals"]
    assert after["snapshots"] == before["snapshots"]
    assert not any((station.vault / "rehearsals").glob(".*"))  # the partial folder was removed


def test_rehearsal_is_signed_verified_and_leaves_the_station_on_air(station):
    before = state_of(station)
    journal = run_ritual(station, RitualOptions(dry_run=True, overrides=FAST))
    assert journal.ok and journal.snapshot_dir
    assert [s.name for s in journal.steps] == ["prechecks", "freeze", "final_frame",
                                               "snapshots", "manifest", "verify",
                                               "last_transmission", "seal", "thaw"]
    verified = verify_snapshot(journal.snapshot_dir, load_public_keys(station.trusted_keys))
    assert verified.manifest.dry_run is True
    data = verified.manifest.archives["snapshot_data.tar.zst"]
    assert len([f for f in data.files if f.type == "file"]) == 2  # a sample, not everything
    after = state_of(station)
    assert after["up"] and after["encoder_running"] and after["run_id"] == before["run_id"]
    assert not any(after["paused"].values()) and not after["queue_frozen"]
    assert after["snapshots"] == [] and after["manifests"] == [] and after["history"] == []
    assert journal.prechecks and journal.prechecks[0].verdict is Verdict.PASS
