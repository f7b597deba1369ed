"""Control state without a running station: persistence, idempotence, clear refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.plugins.station import LabStation
from vvtvlib.core.errors import StationNotRunning, UsageError
from vvtvlib.station import control
from vvtvlib.station.state import ControlStore, Flags


@pytest.fixture
def lab(station_factory: Callable[..., LabStation]) -> LabStation:
    return station_factory(up=False)


def test_flags_persist_and_commands_are_idempotent(lab: LabStation) -> None:
    first = control.set_worker_paused(lab.layout, "realizer", True)
    again = control.set_worker_paused(lab.layout, "realizer", True)
    assert first.changed and not again.changed
    assert again.generation == first.generation
    assert first.to_dict() == {"command": "realizer pause", "changed": True,
                               "generation": first.generation, "applied": False,
                               "station_up": False, "worker": "realizer", "paused": True}
    control.set_queue_frozen(lab.layout, True)
    st = control.status(lab.layout)
    assert st.paused["realizer"] and not st.paused["planner"] and st.queue_frozen
    assert st.generation == first.generation + 1
    events = ControlStore(lab.layout).events()
    assert [e["command"] for e in events[:2]] == ["queue freeze --on", "realizer pause"]


def test_commands_that_need_the_station_say_it_is_down(lab: LabStation) -> None:
    with pytest.raises(StationNotRunning) as exc:
        control.set_worker_paused(lab.layout, "planner", True, require_up=True)
    assert exc.value.exit_code == 3
    assert not control.status(lab.layout).paused["planner"]
    for call in (lambda: control.broadcaster_start(lab.layout),
                 lambda: control.broadcaster_stop(lab.layout),
                 lambda: control.wait_empty(lab.layout, 1)):
        with pytest.raises(StationNotRunning):
            call()
    with pytest.raises(UsageError):
        control.set_worker_paused(lab.layout, "scheduler", True)


def test_discovery_hold_blocks_discovery_only_until_it_expires(lab: LabStation) -> None:
    control.set_discovery_hold(lab.layout, "2999-01-01T00:00:00.000Z")
    flags = ControlStore(lab.layout).flags()
    assert flags.worker_blocked("discovery", "2026-01-01T00:00:00.000Z")
    assert not flags.worker_blocked("discovery", "2999-01-02T00:00:00.000Z")
    assert not flags.worker_blocked("planner", "2026-01-01T00:00:00.000Z")
    assert control.status(lab.layout).discovery_hold_until == "2999-01-01T00:00:00.000Z"


def test_a_frozen_queue_does_not_stop_the_planner() -> None:
    flags = Flags(queue_frozen=True)
    assert not flags.worker_blocked("planner", "2026-01-01T00:00:00Z")
    assert Flags(paused={"planner": True, "realizer": False, "discovery": False}
                 ).worker_blocked("planner", "2026-01-01T00:00:00Z")
