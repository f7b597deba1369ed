"""Step bindings for ``station.feature``: every step calls the station library for real."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.plugins.station import LabStation
from tests.station.helpers import (
    business_bytes,
    eventually,
    live_matches_mezzanine,
    playout_lines,
)
from vvtvlib.core.errors import StationNotRunning
from vvtvlib.media.hls import parse_playlist
from vvtvlib.station import control
from vvtvlib.station.runtime import read_runtime

pytestmark = [pytest.mark.station, pytest.mark.timeout(180)]
scenarios("station.feature")


@given(parsers.parse('a provisioned lab station with profile "{profile}"'),
       target_fixture="lab")
def provisioned(profile: str, station_factory: Callable[..., LabStation]  # noqa: F811
                ) -> LabStation:
    return station_factory(profile=profile, up=False)


@given("a running lab station", target_fixture="lab")
def running(station_factory: Callable[..., LabStation]) -> LabStation:  # noqa: F811
    return station_factory()


@when("the operator brings the station up")
def bring_up(lab: LabStation) -> None:
    lab.up()


@then("the live playlist serves segments with program date times")
def playlist_ok(lab: LabStation) -> None:
    st = lab.status()
    assert st.hls_url
    pl = parse_playlist(httpx.get(st.hls_url, timeout=5).text)
    assert pl.segments and all(s.program_date_time for s in pl.segments)


@then("status shows the playing item and offset and at least 3600 seconds of queue")
def status_playing(lab: LabStation) -> None:
    st = lab.status()
    assert st.up and st.encoder_running and st.playing
    assert st.playing["item_id"].startswith("item-") and st.playing["offset_s"] >= 0
    assert st.queue_buffer_s >= 3600


@then("the live frame is the mezzanine frame the playout log names")
def live_frame(lab: LabStation, tmp_path: Path) -> None:
    _, cmp = live_matches_mezzanine(lab.layout, lab.status().hls_url or "", tmp_path)
    assert cmp.phash_distance <= 4 and cmp.ssim > 0.9


@when("the operator pauses the planner, the realizer and discovery")
def pause_all(lab: LabStation) -> None:
    for worker in ("planner", "realizer", "discovery"):
        control.set_worker_paused(lab.layout, worker, True, require_up=True)


@when("the operator freezes the queue")
def freeze(lab: LabStation) -> None:
    control.set_queue_frozen(lab.layout, True, require_up=True)


@when("the operator waits until no job is in progress")
def wait_empty(lab: LabStation) -> None:
    assert control.wait_empty(lab.layout, timeout_s=30).in_progress == 0


@then("status shows every worker paused and the queue frozen")
def all_paused(lab: LabStation) -> None:
    st = lab.status()
    assert all(st.paused.values()) and st.queue_frozen and st.flags_applied


@then(parsers.parse("the business databases do not change while {n:d} more segments air"))
def nothing_writes(lab: LabStation, n: int) -> None:
    before = business_bytes(lab.layout)
    aired = len(playout_lines(lab.layout))
    eventually(lambda: len(playout_lines(lab.layout)) >= aired + n, timeout_s=5 + 3 * n)
    assert business_bytes(lab.layout) == before


@when("the operator pauses the planner of the stopped station", target_fixture="refusal")
def pause_stopped(lab: LabStation) -> Any:
    with pytest.raises(StationNotRunning) as exc:
        control.set_worker_paused(lab.layout, "planner", True, require_up=True)
    return exc.value


@then(parsers.parse("the command is refused with exit code {code:d}"))
def refused(refusal: StationNotRunning, code: int) -> None:
    assert refusal.exit_code == code and "not running" in refusal.message


@when("the supervisor is killed with SIGKILL", target_fixture="before_crash")
def kill_supervisor(lab: LabStation) -> dict[str, Any]:
    eventually(lambda: len(playout_lines(lab.layout)) >= 2)
    info = read_runtime(lab.layout)
    assert info is not None
    os.kill(info.pid, signal.SIGKILL)
    eventually(lambda: not lab.status().up, timeout_s=5)
    return playout_lines(lab.layout)[-1]


@then("status says the station is down")
def is_down(lab: LabStation) -> None:
    st = lab.status()
    assert not st.up and not st.encoder_running


@then("playout continues after the last segment aired before the crash")
def continues(lab: LabStation, before_crash: dict[str, Any]) -> None:
    st = lab.status()
    new = [e for e in playout_lines(lab.layout) if e["run_id"] == st.encoder_run_id]
    assert new
    assert (new[0]["queue_position"], new[0]["offset_s"]) > (before_crash["queue_position"],
                                                             before_crash["offset_s"])
