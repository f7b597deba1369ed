"""Runbooks: every alert links to an anchor that exists; every command shown exists."""

from __future__ import annotations

import shutil
from pathlib import Path

from vvtvlib.cli import logline, vvtvctl
from vvtvlib.ops.generate import REPO, generate
from vvtvlib.ops.runbooks import (
    Command,
    anchors,
    check_alert_links,
    check_command,
    check_commands,
    check_links,
    commands,
    documents,
)

APPS = {"vvtvctl": vvtvctl.app, "logline": logline.app}
RUNBOOKS = {"rb_streaming.md", "rb_pool.md", "rb_api.md", "rb_planner.md", "rb_db.md",
            "rb_security.md", "rb_discovery.md"}
PLAYBOOKS = {"pb_incident_major.md", "pb_cs_intrusion.md", "pb_dr_failover.md"}


def test_the_seed_runbooks_and_playbooks_exist() -> None:
    assert {p.name for p in documents(REPO)} == RUNBOOKS | PLAYBOOKS


def test_every_alert_links_to_its_anchor() -> None:
    gen = generate(dashboards=False)
    assert check_alert_links(gen.rules, REPO) == []
    assert len({a.name for a in gen.rules.alerts}) == 7 + 8 + 1 + 9  # burn, absent, zero, explicit


def test_links_between_runbooks_resolve() -> None:
    assert check_links(REPO) == []


def test_every_command_in_a_runbook_exists() -> None:
    found = [c for doc in documents(REPO) for c in commands(doc, REPO)]
    assert len(found) > 40
    problems = check_commands(REPO, APPS)
    assert problems == [], "\n".join(map(str, problems))


def test_a_missing_command_or_option_is_caught() -> None:
    def why(text: str) -> str | None:
        return check_command(Command("x.md", 1, text), APPS)

    assert why("vvtvctl status --json") is None
    assert why("vvtvctl queue freeze --off") is None
    assert "no such command" in (why("vvtvctl streaming explode") or "")
    assert "no option --inject" in (why("vvtvctl broadcaster start --inject 5") or "")
    assert "command group" in (why("vvtvctl slo") or "")


def test_every_runbook_section_has_actions_timer_and_checklist() -> None:
    for doc in documents(REPO):
        text = doc.read_text()
        assert "**Timer:**" in text and "- [ ]" in text and "1. " in text, doc.name


def test_a_broken_anchor_is_caught(tmp_path: Path) -> None:
    shutil.copytree(REPO / "ops", tmp_path / "ops")
    path = tmp_path / "ops" / "runbooks" / "rb_api.md"
    path.write_text(path.read_text().replace("## ApiErrorRateHigh", "## Api errors"))
    assert "apierrorratehigh" not in anchors(path)
    gen = generate(dashboards=False)
    problems = check_alert_links(gen.rules, tmp_path)
    assert [p.message for p in problems] == [
        "ApiErrorRateHigh: no anchor #apierrorratehigh in ops/runbooks/rb_api.md"]
    assert any("apierrorratehigh" in p.message for p in check_links(tmp_path))
