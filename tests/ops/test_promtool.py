"""promtool for real: the generated rules check, every fixture passes, and a fixture can fail."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.plugins.system import need_tool
from vvtvlib.cli.vvtvctl import app
from vvtvlib.ops import conventions as conv
from vvtvlib.ops.fixtures import cases_by_alert
from vvtvlib.ops.generate import REPO, generate
from vvtvlib.ops.promtool import check_rules, run_cases, run_rule_tests

pytestmark = pytest.mark.system


@pytest.fixture(autouse=True)
def _promtool() -> None:
    need_tool("promtool")


def test_promtool_check_rules() -> None:
    result = check_rules(REPO / conv.RULES_FILE)
    assert result.ok, result.output
    assert "SUCCESS" in result.output


def test_promtool_test_rules_on_every_fixture() -> None:
    files = sorted((REPO / conv.TESTS_DIR).glob("*_test.yaml"))
    assert {f.name for f in files} == {"api_test.yaml", "planner_test.yaml", "pool_test.yaml",
                                       "streaming_test.yaml"}
    result = CliRunner().invoke(app, ["slo", "test", "--json"])  # check + test, as CI runs it
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["check"]["ok"], report
    assert report["test"]["ok"] and report["test"]["output"].count("SUCCESS") == len(files)


def test_promtool_fails_on_a_broken_fixture(tmp_path: Path) -> None:
    broken = tmp_path / "broken_test.yaml"
    text = (REPO / conv.TESTS_DIR / "api_test.yaml").read_text()
    broken.write_text(text.replace("../../alerts/prometheus_rules.yaml",
                                   str(REPO / conv.RULES_FILE)).replace("severity: critical",
                                                                        "severity: major", 1))
    assert not run_rule_tests([broken]).ok


def test_every_alert_has_a_firing_and_a_quiet_fixture() -> None:
    gen = generate(dashboards=False)
    cases = cases_by_alert(gen.catalog, gen.rules, gen.table)
    assert set(cases) == {a.name for a in gen.rules.alerts}
    for alert, items in cases.items():
        fires = [c for c in items if any(exp for _, exp in c.checks)]
        quiet = [c for c in items if all(not exp for _, exp in c.checks)]
        assert fires and quiet, alert


def test_a_wrong_expectation_fails() -> None:
    gen = generate(dashboards=False)
    case = cases_by_alert(gen.catalog, gen.rules, gen.table)["StreamSegmentAgeHigh"][0]
    # claim it fires one evaluation before `for` has elapsed: promtool must say no
    early = dataclasses.replace(case, checks=[(60, case.checks[-1][1])])
    result = run_cases([early], REPO / conv.RULES_FILE)
    assert not result.ok and "StreamSegmentAgeHigh" in result.output


def test_a_per_provider_alert_is_expected_with_its_provider_label() -> None:
    gen = generate(dashboards=False)
    case = cases_by_alert(gen.catalog, gen.rules, gen.table)["PoolProviderDown"][0]
    exp = case.checks[-1][1]
    assert exp and all(e["exp_labels"]["provider"] == "phi3-mini" for e in exp)
    assert run_cases([case], REPO / conv.RULES_FILE).ok
    # without the label the expression keeps (sum by (provider)), promtool says no
    bare = [{**e, "exp_labels": {k: v for k, v in e["exp_labels"].items() if k != "provider"}}
            for e in exp]
    wrong = dataclasses.replace(case, checks=[*case.checks[:-1], (case.checks[-1][0], bare)])
    result = run_cases([wrong], REPO / conv.RULES_FILE)
    assert not result.ok and "PoolProviderDown" in result.output


def test_a_bad_rules_file_fails_the_check(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum(rate(x[5m]) > \n")
    assert not check_rules(bad).ok
