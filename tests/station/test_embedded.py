"""A real embedded station: FFmpeg writes HLS, the supervisor serves it, workers write."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.plugins.station import LabStation
from vvtvlib.media.hls import parse_playlist
from vvtvlib.station import control

from .helpers import business_bytes, eventually, live_matches_mezzanine, playout_lines

pytestmark = pytest.mark.station


def _jobs(lab: LabStation) -> int:
    conn = sqlite3.connect(lab.layout.db("metrics"))
    try:
        return int(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    finally:
        conn.close()


def test_up_serves_hls_with_program_date_time_and_a_true_playout_log(
        station: LabStation, tmp_path: Path) -> None:
    st = station.status()
    assert st.up and st.encoder_running and st.pid and st.hls_url and st.status_url
    assert st.playing and st.playing["item_id"] == "item-0001"
    assert st.queue_buffer_s >= 3500 and st.segment_age_s is not None
    text = httpx.get(st.hls_url, timeout=5).text
    pl = parse_playlist(text)
    assert pl.segments and all(s.program_date_time for s in pl.segments)
    assert httpx.get(st.status_url, timeout=5).json()["profile"] == "embedded"
    entry, cmp = live_matches_mezzanine(station.layout, st.hls_url, tmp_path)
    assert cmp.phash_distance <= 4 and cmp.ssim > 0.9, (entry, cmp)
    assert {"slot_id", "plan_id", "queue_position", "program_date_time"} <= set(entry)
    forbidden = httpx.post(st.status_url.replace("/status", "/control/reload"), timeout=5)
    assert forbidden.status_code == 403


def test_pause_freeze_stops_every_business_write_and_resume_restarts_them(
        station: LabStation) -> None:
    eventually(lambda: _jobs(station) > 40, timeout_s=20)  # seed rows are 40: workers ran
    for worker in ("planner", "realizer", "discovery"):
        assert control.set_worker_paused(station.layout, worker, True).applied
    control.set_queue_frozen(station.layout, True)
    st = control.wait_empty(station.layout, timeout_s=30)
    assert st.in_progress == 0 and st.flags_applied and st.queue_frozen
    before = business_bytes(station.layout)
    segments = len(playout_lines(station.layout))
    # Playout goes on (three more segments) while nothing writes the business databases.
    eventually(lambda: len(playout_lines(station.layout)) >= segments + 3, timeout_s=15)
    assert business_bytes(station.layout) == before
    jobs = _jobs(station)
    for worker in ("planner", "realizer", "discovery"):
        control.set_worker_paused(station.layout, worker, False)
    control.set_queue_frozen(station.layout, False)
    eventually(lambda: _jobs(station) > jobs, timeout_s=20)


def test_broadcaster_stop_records_the_resume_point_and_start_resumes_there(
        station: LabStation, tmp_path: Path) -> None:
    eventually(lambda: len(playout_lines(station.layout)) >= 3)
    out = control.broadcaster_stop(station.layout)
    assert out.resume is not None
    resume = out.resume.position
    last = playout_lines(station.layout)[-1]
    assert resume.offset_s % 2 == 0
    assert (resume.queue_position, resume.offset_s) >= (last["queue_position"],
                                                        last["offset_s"])
    st = station.status()
    assert st.up and not st.encoder_running
    count = len(playout_lines(station.layout))
    st = control.broadcaster_start(station.layout)
    first_new = playout_lines(station.layout)[count]
    assert (first_new["queue_position"], first_new["offset_s"]) == (resume.queue_position,
                                                                    resume.offset_s)
    st = control.broadcaster_start(station.layout, "item-0003", 7.5)
    assert (st.playing["item_id"], st.playing["offset_s"]) == ("item-0003", 6.0)
    entry, cmp = live_matches_mezzanine(station.layout, st.hls_url or "", tmp_path)
    assert entry["item_id"] == "item-0003" and cmp.phash_distance <= 4


def test_control_state_survives_down_and_up(station_factory: Callable[..., LabStation]
                                            ) -> None:
    lab = station_factory()
    control.set_worker_paused(lab.layout, "discovery", True)
    result = lab.down()
    assert result.was_running and result.graceful
    assert not (lab.layout.run / "supervisor.json").exists()
    assert lab.down().was_running is False  # idempotent
    st = lab.up(ingest=False)
    assert st.up and not st.encoder_running and st.paused["discovery"]
    st = control.broadcaster_start(lab.layout)
    assert st.encoder_running
    assert st.playing and result.resume and \
        st.playing["queue_position"] == result.resume.position.queue_position


def test_a_crashed_encoder_is_restarted_where_it_stopped(station: LabStation) -> None:
    eventually(lambda: len(playout_lines(station.layout)) >= 2)
    st = station.status()
    assert st.encoder_restarts == 0
    encoder = [p for p in psutil.Process(st.pid).children() if "ffmpeg" in p.name()
               and "concat" in p.cmdline()]
    encoder[0].kill()
    st = eventually(lambda: (s := station.status()).encoder_restarts == 1
                    and s.encoder_running and s.playing["run_id"] == s.encoder_run_id and s)
    assert st.encoder_last_restart_utc
    runs = [e["run_id"] for e in playout_lines(station.layout)]
    assert len(set(runs)) == 2
