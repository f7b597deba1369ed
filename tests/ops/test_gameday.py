"""One game day end to end (CI): restart the encoder of a live station, with a real
Prometheus and Alertmanager from `vvtvctl obs` and the on-call receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.plugins.station import LabStation
from tests.plugins.system import need_tool
from vvtvlib.ops.gamedays import longest_above, run_gameday
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.obs import free_port, obs_down, obs_up
from vvtvlib.ops.oncall.escalation import load_policy
from vvtvlib.ops.oncall.receiver import Receiver, serve
from vvtvlib.ops.oncall.rota import Rota


def test_longest_stretch_above_a_threshold() -> None:
    pts = [(0, 5), (1, 11), (2, 12), (3, 13), (4, 4), (5, 11), (6, 2)]
    assert longest_above(pts, 10) == 2
    assert longest_above(pts, 20) == 0


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[str]:
    recv = Receiver(load_policy(REPO / "ops" / "oncall" / "escalation.yaml"),
                    Rota.load(REPO / "ops" / "oncall" / "rota.ics"), tmp_path / "pages")
    port, stop = free_port(), threading.Event()
    t = threading.Thread(target=serve, args=(recv, "127.0.0.1", port, stop), daemon=True)
    t.start()
    yield f"http://127.0.0.1:{port}/"
    stop.set()
    t.join(10)


@pytest.mark.station
@pytest.mark.system
@pytest.mark.timeout(300)
def test_encoder_restart_game_day_end_to_end(station_factory: Callable[..., LabStation],
                                             receiver: str, tmp_path: Path) -> None:
    need_tool("prometheus")
    need_tool("prometheus-alertmanager")
    lab = station_factory()
    root = str(lab.root)
    obs_up(root, time_scale=60, scrape_interval="1s", receiver_url=receiver)
    try:
        result = run_gameday("encoder-restart", root, tmp_path / "reports", observe_s=15)
    finally:
        obs_down(root)
    journal = json.loads(result.journal.read_text())
    report = result.report.read_text()
    assert journal["status"] == "completed" and journal["deviated"] is False, report
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    names = {c.name: c.passed for c in result.criteria}
    assert names == {"segment age": True, "StreamSegmentAgeHigh stays quiet": True,
                     "StreamingSegmentAgeMetricAbsent stays quiet": True,
                     "GameDayPagingCheck delivered to the receiver": True,
                     "the escalation paged L1": True,
                     "the runbook anchor in the page exists": True}, report
    assert result.passed
    assert "LAB TIME SCALE x60" in report and "**Overall: PASS**" in report
    assert "fault-start" in report and "fault-end" in report and "GameDayPagingCheck: L1" in report
