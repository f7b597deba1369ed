"""Step bindings for ``o_oncall_ops.feature``: a live lab station, the real CLI, promtool."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from tests.plugins.station import LabStation
from tests.station.helpers import eventually
from vvtvlib.cli.vvtvctl import app
from vvtvlib.core.config import read_toml
from vvtvlib.core.features import flags_path
from vvtvlib.ops.change import edit_cr
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.oncall.escalation import Timeline, load_policy, simulate
from vvtvlib.ops.oncall.rota import Rota

pytestmark = [pytest.mark.timeout(240), pytest.mark.system]
scenarios("o_oncall_ops.feature")
runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


# -- flags ----------------------------------------------------------------------------------
@given("a running lab station whose curator applies its proposals", target_fixture="ctx")
def curator_station(station_factory: Callable[..., LabStation]) -> dict[str, Any]:
    lab = station_factory(up=False)
    cfg = lab.layout.configs / "station.toml"
    data = read_toml(cfg)
    data["workers"]["planner_interval_s"] = 0.4
    cfg.write_text(tomli_w.dumps(data))
    lab.up()
    assert cli("flags", "set", "curator.min_confidence_apply=0", "--root",
               str(lab.root)).exit_code == 0
    log = lab.layout.logs / "curator_vigilante.jsonl"
    eventually(lambda: log.exists() and any(json.loads(x)["decision"] == "apply"
                                            for x in log.read_text().splitlines()),
               timeout_s=20)
    return {"lab": lab, "log": log, "pid": lab.status().pid}


@when(parsers.parse('the operator runs "vvtvctl flags set {assignment}"'))
def flags_set(ctx: dict[str, Any], assignment: str) -> None:
    ctx["t0"] = time.monotonic()
    r = cli("flags", "set", assignment, "--root", str(ctx["lab"].root), "--reason",
            "freeze curator")
    assert r.exit_code == 0, r.output


@then("the running station applies the flag within a second without restarting")
def applied(ctx: dict[str, Any]) -> None:
    lab = ctx["lab"]
    eventually(lambda: (lab.status().features or {}).get("flags", {})
               .get("curator.apply_enabled") is False, timeout_s=3, every=0.05)
    assert time.monotonic() - ctx["t0"] < 1.5
    assert lab.status().pid == ctx["pid"]
    ctx["mark"] = len(ctx["log"].read_text().splitlines())


@then("the curator only advises from then on")
def advises(ctx: dict[str, Any]) -> None:
    def new() -> list[dict[str, Any]]:
        return [json.loads(x) for x in ctx["log"].read_text().splitlines()[ctx["mark"]:]]
    eventually(lambda: len(new()) >= 3, timeout_s=20)
    assert {d["decision"] for d in new()} == {"advise"}


@then("the change is audited with who, when, old, new and reason")
def audited(ctx: dict[str, Any]) -> None:
    path = flags_path(ctx["lab"].root).with_name("features.audit.jsonl")
    last = json.loads(path.read_text().splitlines()[-1])
    assert (last["flag"], last["old"], last["new"], last["reason"]) == (
        "curator.apply_enabled", True, False, "freeze curator")
    assert last["who"] and last["when"]


# -- change request -------------------------------------------------------------------------
def _recording(path: Path, age_s: float) -> Path:
    path.write_text("".join(json.dumps({"ts": 1000.0 + 60 * i, "samples": [
        ["stream_segment_age_seconds", {}, age_s]]}) + "\n" for i in range(30)))
    return path


@given("an approved change request for the Sunday 02:00-03:00 UTC window",
       target_fixture="cr")
def approved_cr(tmp_path: Path) -> dict[str, Any]:
    crs = tmp_path / "crs"
    shutil.copytree(REPO / "ops" / "change_requests", crs)
    r = cli("change", "new", "--slug", "hedge-sooner", "--dir", str(crs), "--at",
            "2026-12-06T01:00Z", "--json")
    path = Path(json.loads(r.stdout)["path"])
    edit_cr(path, flags={"pool.hedge_after_ms": 150}, approved_by="elisa.sre")
    return {"dir": crs, "id": path.stem, "root": tmp_path / "no-api",
            "ok": _recording(tmp_path / "ok.jsonl", 1.0),
            "spent": _recording(tmp_path / "spent.jsonl", 30.0)}


def _preflight(cr: dict[str, Any], at: str, samples: Path) -> dict[str, Any]:
    r = cli("change", "preflight", cr["id"], "--dir", str(cr["dir"]), "--root",
            str(cr["root"]), "--at", at, "--samples", str(samples), "--json")
    assert r.exit_code == 1  # the lab API is not up in this scenario: the smoke fails
    report: dict[str, Any] = json.loads(r.stdout)
    return report


@when("the operator runs the preflight inside the window with the error budget intact")
def inside(cr: dict[str, Any]) -> None:
    cr["report"] = _preflight(cr, "2026-12-06T02:20Z", cr["ok"])


@then("validate all, promtool, the window and the budget gate pass")
def passes(cr: dict[str, Any]) -> None:
    checks = cr["report"]["checks"]
    assert {k: checks[k] for k in ("cr", "validate", "promtool", "window", "budget")} == \
        dict.fromkeys(("cr", "validate", "promtool", "window", "budget"), "PASS")


@then("the Locust smoke fails naming the missing lab API")
def smoke_fails(cr: dict[str, Any]) -> None:
    smoke = next(s for s in cr["report"]["steps"] if s["name"] == "smoke")
    assert smoke["status"] == "failed" and "API" in smoke["summary"]


@when("the operator runs the preflight outside the window with the budget spent")
def outside(cr: dict[str, Any]) -> None:
    cr["report"] = _preflight(cr, "2026-12-07T10:00Z", cr["spent"])


@then("the window and the budget gate fail with their reasons")
def refused(cr: dict[str, Any]) -> None:
    steps = {s["name"]: s for s in cr["report"]["steps"]}
    assert steps["window"]["status"] == "failed"
    assert "outside the window sun 02:00-03:00 UTC" in steps["window"]["summary"]
    assert steps["budget"]["status"] == "failed"
    assert "streaming-segment-age spent" in steps["budget"]["summary"]


# -- escalation -----------------------------------------------------------------------------
@given("the on-call rota and the escalation policy", target_fixture="oncall")
def oncall() -> dict[str, Any]:
    return {"policy": load_policy(REPO / "ops/oncall/escalation.yaml"),
            "rota": Rota.load(REPO / "ops/oncall/rota.ics")}


def _paged(tl: Timeline) -> list[tuple[float, int]]:
    return [(p.minute, p.level) for p in tl.pages if p.paged]


@when("an alert fires on a Sunday at 02:30 UTC and nobody acknowledges")
def sunday(oncall: dict[str, Any]) -> None:
    oncall["tl"] = simulate(oncall["policy"], oncall["rota"], "StreamSegmentAgeHigh",
                            datetime(2026, 12, 6, 2, 30, tzinfo=UTC))


@then("only the level 1 operator is paged, at minute 0 and again at minute 35")
def night(oncall: dict[str, Any]) -> None:
    assert _paged(oncall["tl"]) == [(0, 1), (35, 1)]


@when("an alert fires on a Monday at 10:00 UTC and is acknowledged after 12 minutes")
def monday(oncall: dict[str, Any]) -> None:
    oncall["tl"] = simulate(oncall["policy"], oncall["rota"], "ApiErrorRateHigh",
                            datetime(2026, 12, 7, 10, 0, tzinfo=UTC), ack_after_min=12)


@then("level 1 is paged at minute 0 and level 2 at minute 5, and nobody after")
def day(oncall: dict[str, Any]) -> None:
    assert _paged(oncall["tl"]) == [(0, 1), (5, 2)]
