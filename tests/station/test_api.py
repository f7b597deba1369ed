"""The station control API: freeze, thaw, reactivate, start_at, status.

Most of it runs on a station that is down (the flags live in ``data/control.sqlite``); one
live test drives a real station through a freeze with drain, a thaw, a stop and a start at
a recorded position.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.plugins.station import LabStation
from vvtvlib.core.clock import FakeClock, utc_iso
from vvtvlib.core.errors import StationNotRunning
from vvtvlib.station import api, state
from vvtvlib.station.db import opened
from vvtvlib.station.state import ControlStore


@pytest.fixture
def lab(station_factory: Callable[..., LabStation]) -> LabStation:
    return station_factory(up=False)


def test_workers_are_named_once() -> None:
    from vvtvlib.hibernation import services
    from vvtvlib.ritual import prechecks

    assert api.WORKERS is state.WORKERS is services.WORKERS is prechecks.WORKERS
    assert api.WORKERS == ("planner", "realizer", "discovery")


def test_freeze_and_thaw_set_every_flag_on_a_station_that_is_down(lab: LabStation) -> None:
    frozen = api.freeze(lab.layout)
    assert frozen.to_dict() == {"paused": list(api.WORKERS), "queue_frozen": True}
    st = api.status(lab.layout)
    assert isinstance(st, api.StationStatus) and not st.up
    assert all(st.paused.values()) and st.queue_frozen
    generation = st.generation
    assert api.freeze(lab.layout) == frozen  # idempotent: no flag changes again
    assert api.status(lab.layout).generation == generation
    commands = [e["command"] for e in ControlStore(lab.layout).events()[:4]]
    assert commands == ["queue freeze --on", "discovery pause", "realizer pause",
                        "planner pause"]

    thawed = api.thaw(lab.layout)
    assert thawed.to_dict() == {"resumed": list(api.WORKERS), "queue_frozen": False}
    st = api.status(lab.layout)
    assert not any(st.paused.values()) and not st.queue_frozen


def test_a_drain_needs_the_running_station(lab: LabStation) -> None:
    with pytest.raises(StationNotRunning) as exc:
        api.freeze(lab.layout, drain_timeout_s=1)
    assert exc.value.exit_code == 3
    assert not api.status(lab.layout).queue_frozen  # never frozen without the drain


def test_reactivate_holds_discovery_for_the_given_hours(lab: LabStation) -> None:
    api.freeze(lab.layout)
    clock = FakeClock()
    st = api.reactivate(lab.layout, discovery_hold_h=24, clock=clock)
    assert st.discovery_hold_until == utc_iso(clock.now() + timedelta(hours=24))
    assert not st.queue_frozen and not any(st.paused.values())
    flags = ControlStore(lab.layout).flags()
    assert flags.worker_blocked("discovery", utc_iso(clock.now() + timedelta(hours=23)))
    assert not flags.worker_blocked("discovery", utc_iso(clock.now() + timedelta(hours=25)))


def test_status_summary_keeps_the_report_fields(lab: LabStation) -> None:
    summary = api.status(lab.layout).summary()
    assert tuple(summary) == api.SUMMARY_FIELDS
    assert summary["up"] is False and summary["hls_url"] is None


def test_start_at_finds_the_queue_entry_and_refuses_a_station_that_is_down(
        lab: LabStation) -> None:
    with opened(lab.layout.db("queue"), readonly=True) as conn:
        pos, item, plan, slot = conn.execute(
            "SELECT position, item_id, plan_id, slot_id FROM queue WHERE position > 0 "
            "ORDER BY position LIMIT 1").fetchone()
    cue = api.Cue(item, 4.0, plan, slot)
    assert api.queue_position_of(lab.layout, cue) == pos
    assert api.queue_position_of(lab.layout, api.Cue(item, 4.0, "no-such-plan", slot)) is None
    resume = ControlStore(lab.layout).get("resume")
    with pytest.raises(StationNotRunning):
        api.start_at(lab.layout, cue)
    assert ControlStore(lab.layout).get("resume") == resume  # nothing pinned when refused


@pytest.mark.station
def test_a_live_station_freezes_thaws_and_starts_at_a_recorded_position(
        station: LabStation) -> None:
    frozen = api.freeze(station.layout, drain_timeout_s=60)
    assert frozen.drain_wait_s is not None and frozen.drain_wait_s >= 0
    st = api.status(station.layout)
    assert st.up and st.flags_applied and st.in_progress == 0 and st.queue_frozen
    assert all(st.paused.values())
    api.thaw(station.layout)
    st = api.status(station.layout)
    assert not st.queue_frozen and not any(st.paused.values())

    stopped = api.stop_ingest(station.layout)
    assert stopped.resume is not None and not api.status(station.layout).encoder_running
    with opened(station.layout.db("queue"), readonly=True) as conn:
        item, plan, slot = conn.execute(
            "SELECT item_id, plan_id, slot_id FROM queue WHERE position = 1").fetchone()
    mark = api.playout_mark(station.layout)
    started = api.start_at(station.layout, api.Cue(item, 5.0, plan, slot), timeout_s=60)
    assert started.queue_position == 1 and started.status.encoder_running
    first = api.first_playout(station.layout, mark, 30)
    assert first is not None
    assert (first.queue_position, first.item_id, first.offset_s) == (1, item, 4.0)
    assert (first.plan_id, first.slot_id) == (plan, slot)


def test_the_hibernation_port_drives_the_same_api(lab: LabStation) -> None:
    from vvtvlib.hibernation.services import Station

    port = Station(lab.layout)
    port.freeze()
    st = port.status()
    assert all(st.paused.values()) and st.queue_frozen and st.up is False
    assert port.down() is False  # nothing was running
    port.resume_workers()
    st = port.status()
    assert not any(st.paused.values()) and not st.queue_frozen
    mark = port.playout_mark()
    with (lab.layout.broadcast / "playout.jsonl").open("a") as fh:
        fh.write('{"item_id": "item-0002", "offset_s": 4.0, "segment": "s.ts"}\n')
    first = port.first_playout(mark, 1)
    assert first is not None and (first.item_id, first.offset_s) == ("item-0002", 4.0)
