"""Pre-check verdicts are pure functions of measured values and thresholds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vvtvlib.ritual.config import Prechecks
from vvtvlib.ritual.prechecks import Measurements, Verdict, evaluate, refusal_message
from vvtvlib.ritual.probe import cpu_temperature, disk_free_pct

HEALTHY = Measurements(
    queue_buffer_s=3900.0, workers_paused={"planner": False, "realizer": False,
                                           "discovery": False},
    queue_frozen=False, encoder_running=True, encoder_uptime_s=120.0, encoder_restarts=0,
    segment_age_s=1.5, databases={"plans.sqlite": "ok", "queue.sqlite": "ok"},
    disk_free_pct=40.0, disk_path="/vvtv", cpu_temp_c=55.0, cpu_temp_source="zone0")


SEED = Prechecks()


def verdicts(m: Measurements, t: Prechecks = SEED, strict: bool = False) -> dict:
    return {r.name: r.verdict for r in evaluate(m, t, strict=strict)}


def test_healthy_station_passes_everything():
    assert set(verdicts(HEALTHY).values()) == {Verdict.PASS}


def test_short_buffer_fails_unless_paused():
    short = replace(HEALTHY, queue_buffer_s=1200.0)
    assert verdicts(short)["queue_buffer"] is Verdict.FAIL
    paused = replace(short, workers_paused=dict.fromkeys(("planner", "realizer", "discovery"),
                                                         True))
    assert verdicts(paused)["queue_buffer"] is Verdict.PASS


def test_encoder_must_be_up_longer_than_the_window():
    assert verdicts(replace(HEALTHY, encoder_uptime_s=59.0))["encoder_stable"] is Verdict.FAIL
    assert verdicts(replace(HEALTHY, encoder_running=False))["encoder_stable"] is Verdict.FAIL
    assert verdicts(HEALTHY, Prechecks(encoder_stable_s=5))["encoder_stable"] is Verdict.PASS


def test_stale_stream_fails():
    assert verdicts(replace(HEALTHY, segment_age_s=90.0))["stream_live"] is Verdict.FAIL
    assert verdicts(replace(HEALTHY, segment_age_s=None))["stream_live"] is Verdict.FAIL


def test_each_database_is_its_own_check():
    bad = replace(HEALTHY, databases={"plans.sqlite": "ok",
                                      "queue.sqlite": "database disk image is malformed"})
    v = verdicts(bad)
    assert v["db_integrity:plans.sqlite"] is Verdict.PASS
    assert v["db_integrity:queue.sqlite"] is Verdict.FAIL
    assert verdicts(replace(HEALTHY, databases={}))["db_integrity"] is Verdict.FAIL


def test_disk_free_must_exceed_the_threshold():
    assert verdicts(replace(HEALTHY, disk_free_pct=15.0))["disk_free"] is Verdict.FAIL
    assert verdicts(HEALTHY, Prechecks(disk_free_min_pct=100))["disk_free"] is Verdict.FAIL


def test_cpu_temperature_hot_fails_unreadable_warns_strict_fails():
    assert verdicts(replace(HEALTHY, cpu_temp_c=85.0))["cpu_temp"] is Verdict.FAIL
    unreadable = replace(HEALTHY, cpu_temp_c=None, cpu_temp_source=None)
    assert verdicts(unreadable)["cpu_temp"] is Verdict.WARN
    assert verdicts(unreadable, strict=True)["cpu_temp"] is Verdict.FAIL


def test_signing_key_problem_fails_before_anything_is_frozen():
    assert verdicts(replace(HEALTHY, signing_key="secret key x does not exist"))[
        "signing_key"] is Verdict.FAIL


def test_refusal_names_measured_value_and_threshold():
    results = evaluate(replace(HEALTHY, disk_free_pct=3.25), Prechecks())
    text = refusal_message(results)
    assert "nothing was changed" in text
    assert "disk_free: measured 3.25 %, threshold > 15 %" in text


def test_cpu_temperature_reads_thermal_zones(tmp_path: Path):
    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "type").write_text("x86_pkg_temp\n")
    (zone / "temp").write_text("61500\n")
    other = tmp_path / "thermal_zone1"
    other.mkdir()
    (other / "type").write_text("iwlwifi_1\n")
    (other / "temp").write_text("99000\n")
    temp, source = cpu_temperature(tmp_path)
    assert temp == 61.5 and "x86_pkg_temp" in str(source)


def test_disk_free_is_a_percentage(tmp_path: Path):
    pct, where = disk_free_pct([tmp_path, tmp_path / "missing" / "vault"])
    assert 0.0 < pct <= 100.0
