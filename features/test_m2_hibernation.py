"""Step bindings for ``m2_hibernation.feature``: a real station runs the ritual and is locked
down once for the module (immutability, soak, then resume, in file order); the detection
matrix uses a small signed lab snapshot per scenario."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.plugins.station import FAST, locked_lab, provision, running, unlock_tree
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.evidence import verify_chain
from vvtvlib.core.layout import StationLayout
from vvtvlib.drills.tamper import inject
from vvtvlib.guardian import (
    Guardian,
    GuardianOptions,
    GuardianPaths,
    current_state,
    is_immutable,
    load_baseline,
)
from vvtvlib.hibernation import ChecklistReport, LockdownOptions, lockdown, resume
from vvtvlib.ritual import RitualOptions, run_ritual
from vvtvlib.station.control import status
from vvtvlib.station.supervisor import station_down

pytestmark = [pytest.mark.station, pytest.mark.timeout(300)]
scenarios("m2_hibernation.feature")


@pytest.fixture(scope="module")
def hibernated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("m2") / "vvtv"
    layout = provision(root)
    with running(layout):
        journal = run_ritual(layout, RitualOptions(overrides=FAST))
    assert journal.ok
    report = lockdown(layout, LockdownOptions(guardian=False))
    assert report.ok, report.to_dict()
    try:
        yield {"layout": layout, "lockdown": report}
    finally:
        station_down(layout, timeout_s=20)
        unlock_tree(root)


@given("a live station that went through the shutdown ritual and was locked down",
       target_fixture="ctx")
def _hibernated(hibernated: dict[str, Any]) -> dict[str, Any]:
    return hibernated


@then("every snapshot and manifest path is immutable as the baseline records")
def _immutable(ctx: dict[str, Any]) -> None:
    paths = GuardianPaths(ctx["layout"])
    baseline, _ = load_baseline(paths.baseline)
    assert {e.path.split("/")[1] for e in baseline.entries} == {"snapshots", "manifests"}
    for e in baseline.entries:
        if e.immutability == "chattr":
            assert is_immutable(paths.root / e.path), e.path
    applied = ctx["lockdown"].step("immutability").detail["summary"]
    assert sum(applied.values()) == len(baseline.entries)


@then("the state log says hibernating")
def _hibernating(ctx: dict[str, Any]) -> None:
    state = current_state(GuardianPaths(ctx["layout"]))
    assert state is not None and state.state == "hibernating"


@then("the station is down")
def _down(ctx: dict[str, Any]) -> None:
    st = status(ctx["layout"])
    assert not st.up and all(st.paused.values()) and st.queue_frozen


@when(parsers.parse("the guardian runs {cycles:d} cycles at 1:{sample:d}"),
      target_fixture="run")
def _soak(ctx: dict[str, Any], cycles: int, sample: int) -> Any:
    g = Guardian(GuardianPaths(ctx["layout"]), GuardianOptions(sample=sample, watch=False),
                 clock=FakeClock(start=datetime.now(UTC)))
    ctx["sample"] = sample
    return g.run(cycles)


@then("no cycle reports a divergence")
def _no_alarm(run: Any) -> None:
    assert len(run.cycles) == 96 and run.ok
    assert all(not c.divergences for c in run.cycles)


@then("every file was re-hashed within each window of 16 cycles")
def _coverage(ctx: dict[str, Any], run: Any) -> None:
    n = ctx["sample"]
    files = set(load_baseline(GuardianPaths(ctx["layout"]).baseline)[0].files)
    for start in range(0, len(run.cycles) - n + 1, n):
        window = run.cycles[start:start + n]
        assert {p for c in window for p in c.hashed} == files
    assert all(c.coverage == 1.0 for c in run.cycles[n - 1:])


@then("the guardian report chain verifies")
def _chain(ctx: dict[str, Any]) -> None:
    assert verify_chain(GuardianPaths(ctx["layout"]).report).ok


@given(parsers.parse("a locked-down lab snapshot guarded at 1:{sample:d}"),
       target_fixture="ctx")
def _lab(tmp_path: Path, sample: int) -> Iterator[dict[str, Any]]:
    snap, _ = locked_lab(tmp_path / "station")
    g = Guardian(GuardianPaths(snap.layout), GuardianOptions(sample=sample, watch=False),
                 clock=FakeClock())
    assert g.cycle().divergences == []
    yield {"layout": snap.layout, "guardian": g}
    unlock_tree(tmp_path)


@when(parsers.parse('an intruder does "{tamper}"'))
def _tamper(ctx: dict[str, Any], tamper: str) -> None:
    ctx["tamper"] = inject(ctx["guardian"].paths, tamper)


@then(parsers.parse('a "{kind}" divergence naming that path is reported within {cycles:d} '
                    'cycle(s)'))
def _reported(ctx: dict[str, Any], kind: str, cycles: int) -> None:
    for _ in range(cycles):
        report = ctx["guardian"].cycle()
        if any(d.kind == kind and d.path == ctx["tamper"].path for d in report.divergences):
            return
    pytest.fail(f"no {kind} divergence for {ctx['tamper'].path} within {cycles} cycle(s)")


@when("the free-disk threshold is set above the free space")
def _threshold(ctx: dict[str, Any]) -> None:
    g = ctx["guardian"]
    g.options = GuardianOptions(sample=g.options.sample, watch=False, min_free_pct=100.0)


@then('a "disk" divergence naming vault is reported in the next cycle')
def _disk(ctx: dict[str, Any]) -> None:
    report = ctx["guardian"].cycle()
    assert [(d.kind, d.path) for d in report.divergences] == [("disk", "vault")]


@when("the operator resumes the station", target_fixture="resumed")
def _resume(ctx: dict[str, Any]) -> ChecklistReport:
    return resume(ctx["layout"])


@then("every resume step passed")
def _passed(resumed: ChecklistReport) -> None:
    assert resumed.ok, [(s.name, s.status, s.summary) for s in resumed.steps]
    not_ok = [(s.name, s.status, s.summary) for s in resumed.steps if s.status != "ok"]
    # the guardian report may only warn when no guardian ran for this scenario alone
    assert all(name == "guardian_report" and status == "warn" for name, status, _ in not_ok), \
        not_ok


@then("the databases equal what the manifest recorded")
def _state(resumed: ChecklistReport) -> None:
    proof = resumed.data["state_proof"]
    assert proof["ok"] and proof["databases"] >= 3 and proof["rows"] > 0
    assert all(r["digest_equal"] for r in proof["per_table"])


@then("the station is up, unpaused, unfrozen and playing from the item it froze on")
def _playing(ctx: dict[str, Any], resumed: ChecklistReport) -> None:
    st = status(ctx["layout"])
    assert st.up and not any(st.paused.values()) and not st.queue_frozen and st.playing
    healthy = resumed.step("healthy").detail
    assert healthy["first_playout"]["item_id"] == healthy["expected_item"]


@then("the state log says awake")
def _awake(ctx: dict[str, Any]) -> None:
    layout: StationLayout = ctx["layout"]
    state = current_state(GuardianPaths(layout))
    assert state is not None and state.state == "awake"
