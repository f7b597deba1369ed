"""The station commands through vvtvctl (typer), against a real station."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.plugins.station import LabStation
from vvtvlib.cli.vvtvctl import app

pytestmark = pytest.mark.station
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_control_commands_on_a_station(station_factory: Callable[..., LabStation]) -> None:
    lab = station_factory(up=False)
    root = str(lab.root)
    code, out = _run("status", "--root", root, "--json")
    assert code == 0 and json.loads(out)["up"] is False
    code, _ = _run("planner", "pause", "--root", root)
    assert code == 3  # the station is down: said clearly, exit 3
    code, out = _run("station", "up", "--root", root, "--json")
    assert code == 0 and json.loads(out)["encoder_running"]
    code, out = _run("planner", "pause", "--root", root, "--json")
    assert code == 0 and {k: v for k, v in json.loads(out).items() if k != "generation"} == {
        "command": "planner pause", "changed": True, "applied": True, "station_up": True,
        "worker": "planner", "paused": True}
    for cmd in (["realizer", "pause"], ["discovery", "pause"], ["queue", "freeze", "--on"]):
        code, _ = _run(*cmd, "--root", root)
        assert code == 0, cmd
    code, out = _run("status", "--root", root, "--json", "--wait-empty", "--timeout", "30")
    st = json.loads(out)
    assert code == 0 and st["in_progress"] == 0 and st["queue_frozen"]
    assert all(st["paused"].values())
    code, out = _run("broadcaster", "stop", "--root", root, "--json")
    assert code == 0 and json.loads(out)["resume"]["offset_s"] >= 0
    code, out = _run("broadcaster", "start", "--root", root, "--item", "item-0002",
                     "--offset", "4", "--json")
    assert code == 0 and json.loads(out)["playing"]["item_id"] == "item-0002"
    code, out = _run("broadcaster", "start", "--root", root, "--item", "item-9999")
    assert code == 2
    assert lab.status().encoder_running  # a bad item id does not take the station off air
    code, out = _run("station", "down", "--root", root, "--json")
    assert code == 0 and json.loads(out)["graceful"]


def test_init_via_cli_refuses_a_non_empty_root(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    code, _ = _run("station", "init", "--root", str(tmp_path))
    assert code == 2
    code, _ = _run("station", "up", "--root", str(tmp_path / "nothing"))
    assert code == 3
