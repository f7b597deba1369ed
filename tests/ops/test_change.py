"""Change requests (template, window, freeze, budget gate, rollback) and incidents (the
seed's eight steps, the postmortem). The live preflight and apply are in
test_oncall_live.py."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vvtvlib.cli import logline, vvtvctl
from vvtvlib.core.errors import CheckFailed, UsageError
from vvtvlib.core.evidence import verify_chain
from vvtvlib.core.features import flags_path
from vvtvlib.ops import flags as F
from vvtvlib.ops.change import (
    PreflightOptions,
    apply_change,
    edit_cr,
    new_cr,
    parse_cr,
    preflight,
)
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.incident import Action, close_incident, log_step, open_incident
from vvtvlib.ops.smoke import PostCheck

APPS = {"vvtvctl": vvtvctl.app, "logline": logline.app}
IN_WINDOW = datetime(2026, 12, 6, 2, 15, tzinfo=UTC)  # a Sunday
runner = CliRunner()


def recording(path: Path, age_s: float) -> Path:
    path.write_text("".join(json.dumps({"ts": 1000.0 + 60 * i, "samples": [
        ["stream_segment_age_seconds", {}, age_s]]}) + "\n" for i in range(30)))
    return path


@pytest.fixture
def crs(tmp_path: Path) -> Path:
    folder = tmp_path / "crs"
    folder.mkdir()
    for name in ("TEMPLATE.md", "freeze.yaml", "policy.yaml"):
        shutil.copy(REPO / "ops" / "change_requests" / name, folder / name)
    return folder


def opts(tmp_path: Path, at: datetime = IN_WINDOW, samples: Path | None = None
         ) -> PreflightOptions:
    return PreflightOptions(REPO, APPS, root=tmp_path / "station", promtool=False,
                            smoke=False, at=at,
                            samples=samples or recording(tmp_path / "ok.jsonl", 1.0))


def made(crs: Path, slug: str = "hedge-sooner", **flags: object) -> Path:
    path = new_cr(crs, slug, owner="diego.sre", title="Hedge sooner", at=IN_WINDOW)
    edit_cr(path, flags=dict(flags) or {"pool.hedge_after_ms": 150}, approved_by="elisa.sre",
            at=IN_WINDOW)
    return path


def test_new_cr_from_the_template_has_every_section(crs: Path) -> None:
    r = runner.invoke(vvtvctl.app, ["change", "new", "--slug", "hedge-sooner", "--dir",
                                    str(crs), "--at", "2026-12-06T02:00Z", "--owner", "ana"])
    assert r.exit_code == 0, r.output
    path = crs / "CR-20261206-hedge-sooner.md"
    cr, body = parse_cr(path)
    assert cr.id == path.stem and cr.owner == "ana"
    for section in ("## Description", "## Risks", "## Rollback", "## Pre-flight checklist",
                    "## Window", "## Owner and approval"):
        assert section in body
    again = runner.invoke(vvtvctl.app, ["change", "new", "--slug", "hedge-sooner", "--dir",
                                        str(crs), "--at", "2026-12-06T02:00Z"])
    assert again.exit_code == 2
    assert runner.invoke(vvtvctl.app, ["change", "new", "--slug", "Bad Slug", "--dir",
                                       str(crs)]).exit_code == 2


def test_preflight_passes_inside_the_window_with_budget_left(crs: Path, tmp_path: Path
                                                             ) -> None:
    journal = preflight(made(crs), opts(tmp_path))
    checks = journal.to_dict()["checks"]
    assert checks == {"cr": "PASS", "validate": "PASS", "promtool": "PASS", "smoke": "PASS",
                      "window": "PASS", "budget": "PASS"}
    assert journal.step("smoke").status.value == "skipped"  # type: ignore[union-attr]


def test_window_freeze_and_budget_each_fail_with_their_reason(crs: Path, tmp_path: Path
                                                              ) -> None:
    path = made(crs)
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    with pytest.raises(CheckFailed) as out:
        preflight(path, opts(tmp_path, at=monday))
    assert "outside the window sun 02:00-03:00 UTC" in out.value.message
    christmas = datetime(2026, 12, 24, 2, 15, tzinfo=UTC)  # inside the Christmas freeze
    with pytest.raises(CheckFailed) as out:
        preflight(path, opts(tmp_path, at=christmas))
    assert "freeze" in out.value.message and "Christmas" in out.value.message
    with pytest.raises(CheckFailed) as out:
        preflight(path, opts(tmp_path, samples=recording(tmp_path / "bad.jsonl", 30.0)))
    journal = out.value.journal
    assert journal is not None
    checks = journal.to_dict()["checks"]
    assert checks["budget"] == "FAIL" and checks["window"] == "PASS"
    assert "streaming-segment-age spent" in out.value.message


def test_an_unapproved_cr_is_refused(crs: Path, tmp_path: Path) -> None:
    path = new_cr(crs, "nobody-approved", owner="ana", at=IN_WINDOW)
    with pytest.raises(CheckFailed, match="no approver"):
        preflight(path, opts(tmp_path))


def test_apply_rolls_back_by_itself_when_the_smoke_fails(crs: Path, tmp_path: Path) -> None:
    path = made(crs, "deadline-cut", **{"pool.heavy_deadline_ms": 1})
    o = opts(tmp_path)
    flags_file = flags_path(o.root)

    def failing(root: Path | None) -> list[PostCheck]:
        seen = F.get_flag(flags_file, "pool.heavy_deadline_ms")
        return [PostCheck("pool", seen != 1, f"deadline {seen} ms: every request timed out")]

    with pytest.raises(CheckFailed, match="rolled back") as out:
        apply_change(path, o, settle_s=0, post_checks=failing)
    assert out.value.journal is not None and out.value.journal.outcome == "rolled back"
    assert F.get_flag(flags_file, "pool.heavy_deadline_ms") == 0
    audit = [json.loads(x) for x in F.audit_path(flags_file).read_text().splitlines()]
    assert [(a["new"], a["reason"].split(":")[0]) for a in audit] == [
        (1, path.stem), (0, f"rollback {path.stem}")]

    ok = made(crs, "hedge-sooner", **{"pool.hedge_after_ms": 150})
    journal = apply_change(ok, o, settle_s=0,
                           post_checks=lambda root: [PostCheck("pool", True, "3/3")])
    assert journal.outcome == "applied" and journal.flags_after == {"pool.hedge_after_ms": 150}
    assert F.get_flag(flags_file, "pool.hedge_after_ms") == 150


def test_incident_timeline_and_postmortem(tmp_path: Path) -> None:
    at = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)
    inc = open_incident(tmp_path, "encoder-stuck", "major", "segment age 40 s", imoc="ana",
                        at=at)
    assert inc.channel == "#incident-20261206-0230"
    log_step(tmp_path, inc.id, "status_page", "MAJOR, ETA 02:50",
             at=at.replace(minute=33))
    log_step(tmp_path, inc.id, "mitigate", "vvtvctl streaming restart-encoder",
             at=at.replace(minute=36))
    with pytest.raises(UsageError):
        log_step(tmp_path, inc.id, "reboot", "x")
    pm = close_incident(tmp_path, inc.id, causes=["encoder stalled on IO"],
                        actions=[Action.parse("IO alert on storage|diego.sre|2026-12-13")],
                        communication="resolved", at=at.replace(minute=50))
    assert pm.name == "PM-20261206-encoder-stuck.md"
    text = pm.read_text()
    for needle in ("## Causes", "encoder stalled on IO", "| IO alert on storage | diego.sre | "
                   "2026-12-13 |", "2026-12-08T02:50:00Z", "(20 min)", "- none"):
        assert needle in text
    steps = [json.loads(x)["step"] for x in inc.timeline_path.read_text().splitlines()]
    assert steps == ["acknowledge", "imoc", "channel", "status_page", "mitigate", "close",
                     "postmortem"]
    assert verify_chain(inc.timeline_path).ok
    with pytest.raises(UsageError, match="closed"):
        log_step(tmp_path, inc.id, "mitigate", "late")
    with pytest.raises(UsageError, match="what\\|owner"):
        Action.parse("no owner")


def test_incident_cli(tmp_path: Path) -> None:
    d = ["--dir", str(tmp_path)]
    r = runner.invoke(vvtvctl.app, ["incident", "open", "--slug", "pool-slow", "--severity",
                                    "critical", "--summary", "p95 3 s", "--at",
                                    "2026-12-07T10:00Z", *d, "--json"])
    assert r.exit_code == 0, r.output
    inc = json.loads(r.stdout)["id"]
    assert runner.invoke(vvtvctl.app, ["incident", "log", inc, "--step", "mitigate", "--note",
                                       "provider disabled", *d]).exit_code == 0
    r = runner.invoke(vvtvctl.app, ["incident", "close", inc, "--cause", "gemma slow",
                                    "--action", "alert on provider p95|elisa.sre|2026-12-14",
                                    *d])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "PM-20261207-pool-slow.md").exists()
    assert runner.invoke(vvtvctl.app, ["incident", "open", "--slug", "x", "--severity",
                                       "huge", "--summary", "s", *d]).exit_code == 2
