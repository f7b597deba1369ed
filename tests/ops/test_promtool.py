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


# -- PoolProviderDown: one outage, one alert (and so one page) ---------------------------------
def _openings(opened_at: list[int], step_s: int, end_s: int) -> str:
    """``llmpool_breaker_open_total`` sampled every ``step_s``: +1 at each opening."""
    return " ".join(str(sum(1 for o in opened_at if o <= t)) for t in range(0, end_s + 1, step_s))


def _provider_down_test(rules: Path, tmp: Path, step_s: int, opened_at: list[int],
                        firing_s: list[int], quiet_s: list[int]) -> bool:
    """promtool: PoolProviderDown firing (for phi3-mini) at every ``firing_s`` and not at the
    ``quiet_s``. An alert that resolved and fired again in between would be pending, not
    firing, at one of those evaluations."""
    import yaml

    alert = next(r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]
                 if r.get("alert") == "PoolProviderDown")
    exp = [{"exp_labels": {"provider": "phi3-mini", **alert["labels"]},
            "exp_annotations": alert["annotations"]}]
    end = max(firing_s + quiet_s) + step_s
    test = {"rule_files": [str(rules)], "evaluation_interval": f"{step_s}s", "tests": [{
        "name": "a breaker that opens again and again inside one outage",
        "interval": f"{step_s}s",
        "input_series": [{"series": 'llmpool_breaker_open_total{provider="phi3-mini"}',
                          "values": _openings(opened_at, step_s, end)}],
        "alert_rule_test": [{"eval_time": f"{t}s", "alertname": "PoolProviderDown",
                             "exp_alerts": exp} for t in firing_s]
        + [{"eval_time": f"{t}s", "alertname": "PoolProviderDown", "exp_alerts": []}
           for t in quiet_s]}]}
    path = tmp / "provider_down_test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    return run_rule_tests([path]).ok


def _without_keep_firing_for(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "keep_firing_for:" not in line)


def test_a_provider_failing_on_and_off_is_one_alert_in_production(tmp_path: Path) -> None:
    """Production rules: the breaker opens at 0, 7 and 14 minutes (each gap longer than the
    5-minute window): PoolProviderDown fires once and stays firing every minute until 10
    minutes (keep_firing_for) after the window let go of the last opening, then resolves.
    Without keep_firing_for the same series resolves and fires again (a page per opening)."""
    rules = REPO / conv.RULES_FILE
    plan = {"step_s": 15, "opened_at": [15, 7 * 60, 14 * 60],
            "firing_s": list(range(90, 1740, 15)), "quiet_s": [1800, 1860]}
    assert _provider_down_test(rules, tmp_path, **plan)  # type: ignore[arg-type]
    bare = tmp_path / "rules_without_keep.yaml"
    bare.write_text(_without_keep_firing_for(rules.read_text()))
    assert not _provider_down_test(bare, tmp_path, **plan)  # type: ignore[arg-type]


def test_a_dead_provider_is_one_alert_at_the_lab_time_scale(tmp_path: Path) -> None:
    """The kill-provider game day at x60 (scrape and evaluation every 1 s): the breaker's
    cooldown (10 s) is real time, longer than the scaled 5 s window, so the breaker of a
    dead provider opens every 10 s; keep_firing_for (10m -> 10 s) keeps one alert firing
    from the first opening to 15 s after the last. The unscaled rules' old behaviour, the
    window alone, resolves between openings: promtool says so."""
    from vvtvlib.ops.obs import scale_rules
    from vvtvlib.pool.config import BreakerSettings

    text = (REPO / conv.RULES_FILE).read_text()
    lab = tmp_path / "lab_rules.yaml"
    lab.write_text(scale_rules(text, 60, 1.0))
    cooldown = int(BreakerSettings().cooldown_s)
    opened = [3 + k * (cooldown + 1) for k in range(4)]  # kill at 0 s; a probe fails each time
    plan = {"step_s": 1, "opened_at": opened,
            "firing_s": list(range(opened[0] + 3, opened[-1] + 14)),
            "quiet_s": [opened[-1] + 17, opened[-1] + 25]}
    assert _provider_down_test(lab, tmp_path, **plan)  # type: ignore[arg-type]
    bare = tmp_path / "lab_rules_without_keep.yaml"
    bare.write_text(scale_rules(_without_keep_firing_for(text), 60, 1.0))
    assert not _provider_down_test(bare, tmp_path, **plan)  # type: ignore[arg-type]


def test_the_generated_keep_firing_for_fixture_needs_it(tmp_path: Path) -> None:
    """``ops/tests/pool_test.yaml`` holds a case for PoolProviderDown's keep_firing_for
    (generated from the catalog): it passes on the rules and fails on the same rules
    without keep_firing_for, where the alert resolves 5 minutes after the last opening."""
    gen = generate(dashboards=False)
    case = next(c for c in cases_by_alert(gen.catalog, gen.rules, gen.table)["PoolProviderDown"]
                if "still firing 10m" in c.name)
    assert case.checks[0][1] and case.checks[-1][1] == []
    assert run_cases([case], REPO / conv.RULES_FILE).ok
    bare = tmp_path / "rules_without_keep.yaml"
    bare.write_text(_without_keep_firing_for((REPO / conv.RULES_FILE).read_text()))
    result = run_cases([case], bare)
    assert not result.ok and "PoolProviderDown" in result.output
