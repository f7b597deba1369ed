"""Step bindings for ``o_gamedays.feature``: a real game day (Chaos Toolkit, Prometheus,
Alertmanager, the on-call receiver, a live station)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.plugins.station import LabStation
from tests.plugins.system import need_tool
from vvtvlib.ops.gamedays import GamedayResult, ensure_encoder_up, run_gameday
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.obs import free_port, obs_down, obs_up
from vvtvlib.ops.oncall.escalation import load_policy
from vvtvlib.ops.oncall.receiver import Receiver, serve
from vvtvlib.ops.oncall.rota import Rota

pytestmark = [pytest.mark.timeout(300), pytest.mark.system, pytest.mark.station]
scenarios("o_gamedays.feature")


@pytest.fixture
def receiver_url(tmp_path: Path) -> Iterator[str]:
    recv = Receiver(load_policy(REPO / "ops" / "oncall" / "escalation.yaml"),
                    Rota.load(REPO / "ops" / "oncall" / "rota.ics"), tmp_path / "pages")
    port, stop = free_port(), threading.Event()
    t = threading.Thread(target=serve, args=(recv, "127.0.0.1", port, stop), daemon=True)
    t.start()
    yield f"http://127.0.0.1:{port}/"
    stop.set()
    t.join(10)


@given(parsers.parse("a live station watched by Prometheus and Alertmanager at a lab time "
                     "scale of {scale:d}"), target_fixture="lab")
def live_station(station_factory: Callable[..., LabStation], scale: int) -> dict:
    need_tool("prometheus")
    need_tool("prometheus-alertmanager")
    return {"station": station_factory(), "scale": scale}


@given("the on-call receiver behind Alertmanager")
def receiver_behind(lab: dict, receiver_url: str) -> Iterator[None]:
    root = str(lab["station"].root)
    obs_up(root, time_scale=lab["scale"], scrape_interval="1s", receiver_url=receiver_url)
    yield
    obs_down(root)


@when(parsers.parse('the game day "{name}" runs'), target_fixture="result")
def run(lab: dict, name: str, tmp_path: Path) -> GamedayResult:
    return run_gameday(name, str(lab["station"].root), tmp_path / "reports", observe_s=15)


def _passed(result: GamedayResult, name: str) -> bool:
    hit = [c for c in result.criteria if c.name == name]
    assert hit, f"no criterion {name!r}: {[c.name for c in result.criteria]}"
    return hit[0].passed


@then("stream_segment_age_seconds never exceeds 10 s for more than 2 minutes")
def segment_age(result: GamedayResult) -> None:
    assert _passed(result, "segment age"), result.report.read_text()


@then(parsers.parse("the alert {alert} does not fire"))
def quiet(result: GamedayResult, alert: str) -> None:
    assert _passed(result, f"{alert} stays quiet")


@then("Alertmanager delivers the page, the receiver pages L1 and the runbook anchor exists")
def paging(result: GamedayResult) -> None:
    assert _passed(result, "GameDayPagingCheck delivered to the receiver")
    assert _passed(result, "the escalation paged L1")
    assert _passed(result, "the runbook anchor in the page exists")


@then("the rollback ran and the encoder is up")
def rolled_back(result: GamedayResult, lab: dict) -> None:
    journal = json.loads(result.journal.read_text())
    assert journal["rollbacks"] and all(r["status"] == "succeeded"
                                        for r in journal["rollbacks"])
    assert ensure_encoder_up(str(lab["station"].root), timeout_s=5)["encoder_pid"] > 0


@then("the report says the lab time scale and PASS per criterion")
def report(result: GamedayResult) -> None:
    text = result.report.read_text()
    assert result.passed and "LAB TIME SCALE x60" in text and "**Overall: PASS**" in text
    assert "| FAIL |" not in text and "fault-start" in text
