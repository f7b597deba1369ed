"""The supervisor's control replies and /status are typed records on both sides of the HTTP
edge: what the supervisor writes, the client reads back as the same record."""

from __future__ import annotations

import json

from vvtvlib.station.replies import (
    BroadcastStarted,
    EmergencyInjected,
    EncoderRestarted,
    EncoderRun,
    IngestStopped,
)
from vvtvlib.station.runtime import EncoderStatus, SupervisorStatus
from vvtvlib.station.state import Playing, Position, ResumePoint, position_on_air
from vvtvlib.station.supervisor import StationStopped
from vvtvlib.station.workers import GateSnapshot

POS = Position(3, "item-0002", 4.0, "slot-1", "plan-00001-abcd")
RUN = EncoderRun(True, "run-1", 4242, 12.5, 6, ("ffmpeg", "-re"), "seg_000005.ts")


def _wire(body: dict) -> dict:
    """What the HTTP handler sends and the client parses (``httpd._json``)."""
    return json.loads(json.dumps(body, sort_keys=True, default=str))


def test_each_reply_reads_back_as_itself() -> None:
    replies = [
        BroadcastStarted(False, RUN, POS), BroadcastStarted(True, RUN),
        BroadcastStarted(True, EncoderRun(False)),
        IngestStopped(ResumePoint(POS, "2026-01-01T00:00:00.000Z")), IngestStopped(None),
        EncoderRestarted("run-0", POS, 77, RUN), EncoderRestarted("run-0", POS, None, RUN),
        EmergencyInjected(3, "item-0001", 60.0, 3660.5),
    ]
    for reply in replies:
        assert type(reply).from_dict(_wire(reply.to_dict())) == reply, reply


def test_replies_keep_the_json_bodies_they_always_had() -> None:
    assert EncoderRun(False).to_dict() == {"running": False, "segments": 0}
    assert BroadcastStarted(True, EncoderRun(False)).to_dict() == {
        "already_running": True, "running": False, "segments": 0}
    assert IngestStopped(ResumePoint(POS)).to_dict() == {"stopped": True, "resume": {
        "item_id": "item-0002", "offset_s": 4.0, "plan_id": "plan-00001-abcd",
        "queue_position": 3, "slot_id": "slot-1"}}
    restarted = EncoderRestarted("run-0", POS, 77, RUN)
    assert restarted.run_id == "run-1"
    assert restarted.to_dict() == {"previous_run_id": "run-0", "start": POS.to_dict(),
                                   "nginx_pid": 77, **RUN.to_dict()}
    assert set(RUN.to_dict()) == {"running", "run_id", "pid", "uptime_s", "segments", "args",
                                  "last_segment"}


def test_status_reads_back_and_a_resume_point_keeps_when_it_was_recorded() -> None:
    status = SupervisorStatus(
        pid=1, profile="embedded", station_id="lab", started_utc="t0", uptime_s=3.5,
        ingest=True, applied_generation=4, in_progress=1,
        in_progress_by_worker={"planner": 1, "realizer": 0, "discovery": 0},
        jobs_done={"planner": 9}, worker_errors={}, encoder=EncoderStatus(
            True, 2.0, 1, "t1", 99, "run-1", 5, ("ffmpeg",)),
        segment_age_s=0.4, features=None, nginx=None, hls_url="http://h/hls/main.m3u8",
        status_url="http://h/status", now_utc="t2")
    assert SupervisorStatus.from_dict(_wire(status.to_dict())) == status
    stored = {**POS.to_dict(), "recorded_utc": "2026-01-01T00:00:00.000Z"}
    point = ResumePoint.from_dict(stored)
    assert point is not None and point.position == POS and point.to_dict() == stored
    assert ResumePoint.from_dict(None) is None


def test_station_stopped_shape_depends_on_whether_it_ran() -> None:
    assert StationStopped(False, True, (12,)).to_dict() == {
        "was_running": False, "graceful": True, "orphans_killed": [12]}
    ran = StationStopped(True, False, (), 31.2, ResumePoint(POS)).to_dict()
    assert ran["elapsed_s"] == 31.2 and ran["resume"]["queue_position"] == 3
    assert GateSnapshot(2, {"planner": 1}, {"planner": 5}).to_dict() == {
        "generation": 2, "in_progress": {"planner": 1}, "jobs_done": {"planner": 5}}


def test_the_position_on_air_is_the_playing_segment_else_the_resume_point() -> None:
    later = Position(4, "item-0002", 6.0, "slot-1", "plan-00001-abcd")
    playing = Playing(later, "seg_000007.ts", 7, "run-1", None, "2026-01-01T00:00:09.000Z")
    stored = json.loads(json.dumps(playing.to_dict(), sort_keys=True))  # as control.sqlite has it
    assert Playing.from_dict(stored) == playing
    resume = ResumePoint(POS, "2026-01-01T00:00:05.000Z").to_dict()
    assert position_on_air({"playing": stored, "resume": resume}) == later
    assert position_on_air({"playing": None, "resume": resume}) == POS
    assert position_on_air({}) is None
