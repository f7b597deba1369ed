"""Step bindings for ``o_slo_alerts.feature``: each step calls vvtvlib.ops for real."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_bdd import given, scenarios, then, when

from tests.plugins.station import LabStation
from tests.plugins.system import need_tool
from vvtvlib.cli import logline, vvtvctl
from vvtvlib.ops import conventions as conv
from vvtvlib.ops.dashboards import dashboard_queries, unknown_names
from vvtvlib.ops.exporters import probe_exporter
from vvtvlib.ops.fixtures import cases_by_alert
from vvtvlib.ops.generate import REPO, Generated, generate
from vvtvlib.ops.promql import metric_names_in
from vvtvlib.ops.promtool import check_rules, run_rule_tests
from vvtvlib.ops.runbooks import check_alert_links, check_commands
from vvtvlib.ops.samples import scrape
from vvtvlib.station.metrics import STATION_METRICS, metrics_url

pytestmark = [pytest.mark.timeout(240), pytest.mark.system]
scenarios("o_slo_alerts.feature")


@given("the SLO catalog and the alert rules generated from it", target_fixture="gen")
def catalog_and_rules() -> Generated:
    gen = generate()
    assert (REPO / conv.RULES_FILE).read_text() == gen.files[conv.RULES_FILE]
    return gen


@when("promtool checks the rules and runs the generated fixtures", target_fixture="promtool")
def run_promtool() -> dict[str, Any]:
    need_tool("promtool")
    files = sorted((REPO / conv.TESTS_DIR).glob("*_test.yaml"))
    return {"check": check_rules(REPO / conv.RULES_FILE), "test": run_rule_tests(files)}


@then("every alert has a series that fires it and one just below its threshold")
def fire_and_quiet(gen: Generated) -> None:
    cases = cases_by_alert(gen.catalog, gen.rules, gen.table)
    assert set(cases) == {a.name for a in gen.rules.alerts}
    for alert, items in cases.items():
        assert any(any(exp for _, exp in c.checks) for c in items), alert
        assert any(all(not exp for _, exp in c.checks) for c in items), alert


@then("promtool reports every fixture passing")
def promtool_passes(promtool: dict[str, Any]) -> None:
    assert promtool["check"].ok, promtool["check"].output
    assert promtool["test"].ok, promtool["test"].output


@then("every alert carries the labels service and severity and a summary")
def labels(gen: Generated) -> None:
    for group in gen.rules.groups:
        for rule in group.rules:
            if rule.alert:
                assert rule.labels.get("service") and rule.labels.get("severity"), rule.alert
                assert rule.annotations.get("summary"), rule.alert


@then("every runbook_url names a runbook file and an anchor that exist")
def runbook_links(gen: Generated) -> None:
    assert check_alert_links(gen.rules, REPO) == []


@then("every command the runbooks show exists")
def runbook_commands() -> None:
    problems = check_commands(REPO, {"vvtvctl": vvtvctl.app, "logline": logline.app})
    assert problems == [], "\n".join(map(str, problems))


@given("a running lab station with its metrics endpoint", target_fixture="lab")
def running_station(station_factory: Callable[..., LabStation]) -> LabStation:
    return station_factory()


@when("the operator probes the station's metrics endpoint", target_fixture="probe")
def probe(lab: LabStation) -> Any:
    return probe_exporter(metrics_url(lab.layout))


@then("it exports every station metric the seed names")
def exports_all(probe: Any) -> None:
    assert probe.ok, probe.missing
    assert {"stream_segment_age_seconds", "stream_encoder_drops_total",
            "queue_buffer_duration_minutes", "planner_cycle_duration_ms"} <= set(probe.found)


@then("every dashboard query uses exported or declared metric names")
def dashboards_known(lab: LabStation) -> None:
    gen = generate()
    live = {s[0] for s in scrape(metrics_url(lab.layout))}
    station = {s for m in STATION_METRICS for s in m.series()}
    for rel, text in gen.files.items():
        if rel.endswith(".json"):
            queries = dashboard_queries(text)
            assert unknown_names(queries, gen.rules) == set(), rel
            used = {n for q in queries for n in metric_names_in(q)}
            assert used & station <= live, rel
