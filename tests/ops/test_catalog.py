"""The SLO catalog: the seed's table loads; a bad file gets one sentence naming file and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from vvtvlib.cli.vvtvctl import app
from vvtvlib.core.errors import ConfigError
from vvtvlib.ops.catalog import error_budget, load_catalog
from vvtvlib.ops.describe import rows
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.openslo import export_openslo

runner = CliRunner()

SEED_TABLE = {  # id: (objective %, error budget)
    "streaming-segment-age": ("99.5", "0.005"), "streaming-encoder-drops": ("99.8", "0.002"),
    "pool-infer-latency": ("99", "0.01"), "pool-errors": ("99.5", "0.005"),
    "api-infer-latency": ("99", "0.01"), "api-errors": ("99.5", "0.005"),
    "planner-selection-cycle": ("99", "0.01"), "planner-queue-starvation": ("100", "0"),
}


def test_the_catalog_holds_the_seed_table() -> None:
    cat = load_catalog(REPO / "ops" / "slo")
    got = {f"{s.service}-{x.name}": (x, error_budget(x)) for s, x in cat.slos()}
    assert set(got) == set(SEED_TABLE)
    for ident, (objective, budget) in SEED_TABLE.items():
        slo, b = got[ident]
        assert slo.objective == Decimal(objective) and b == Decimal(budget), ident
        assert slo.window == "7d"
    thresholds = {i: got[i][0].sli.threshold for i in got}
    assert thresholds["streaming-segment-age"] == 6
    assert thresholds["pool-infer-latency"] == thresholds["api-infer-latency"] == 1200
    assert thresholds["planner-selection-cycle"] == 500
    assert thresholds["planner-queue-starvation"] == 30


def test_every_row_has_owner_panel_query_and_alerts() -> None:
    for r in rows(load_catalog(REPO / "ops" / "slo")):
        assert r.owner and r.panel and r.dashboard and r.sli and r.alerts, r
        assert any(a.endswith("MetricAbsent") for a in r.alerts), r.id


def _edit(root: Path, file: str, path: list[Any], value: Any) -> Path:
    target = root / "ops" / "slo" / file
    data = yaml.safe_load(target.read_text())
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


_DELETE = object()

BAD = [
    ("slo_api.yaml", ["slos", 0, "objective"], 0.99, "slos.0.objective", "percentage"),
    ("slo_api.yaml", ["slos", 0, "objective"], 120, "slos.0.objective", "(0, 100]"),
    ("slo_api.yaml", ["slos", 1, "sli", "errors", "metric"], "api_requests",
     "slos.1.sli.errors.metric",
     "not declared"),
    ("slo_pool.yaml", ["slos", 0, "sli", "threshold"], 1300, "slos.0.sli.threshold",
     "bucket boundary"),
    ("slo_pool.yaml", ["slos", 0, "window"], "30d", "slos.0.window", "7d"),
    ("slo_streaming.yaml", ["slos", 0, "alerts"], ["NoSuchAlert"], "slos.0.alerts.0",
     "not defined"),
    ("slo_streaming.yaml", ["slos", 0, "owner_team"], "x", "slos.0.owner_team",
     "Extra inputs"),
    ("slo_planner.yaml", ["alerts", 0, "expr"], "min(queue_minutes) < 45", "alerts.0.expr",
     "not declared"),
    ("slo_planner.yaml", ["slos", 1, "objective"], 99.9, "slos.1.objective", "zero"),
    ("slo_api.yaml", ["owner"], _DELETE, "owner", "Field required"),
    ("slo_api.yaml", ["slos", 1, "sli", "examples", "good"], {"code": "503"},
     "slos.1.sli.examples.good", "not errors"),
]


@pytest.mark.parametrize(("file", "path", "value", "key", "words"), BAD,
                         ids=[f"{b[0]}:{b[3]}" for b in BAD])
def test_a_bad_file_names_file_and_key(catalog_copy: Path, file: str, path: list[Any],
                                       value: Any, key: str, words: str) -> None:
    target = _edit(catalog_copy, file, path, value)
    with pytest.raises(ConfigError) as err:
        load_catalog(catalog_copy / "ops" / "slo")
    msg = err.value.message
    assert msg.startswith(f"{target}: key {key}") and words in msg, msg
    assert "\n" not in msg


def test_the_cli_says_one_sentence_and_exits_2(catalog_copy: Path) -> None:
    target = _edit(catalog_copy, "slo_api.yaml", ["slos", 0, "objective"], 0.99)
    result = runner.invoke(app, ["slo", "list", "--catalog", str(catalog_copy / "ops" / "slo")])
    assert result.exit_code == 2
    assert str(target) in result.output and "Traceback" not in result.output


def test_invalid_yaml_and_duplicate_alerts_are_refused(catalog_copy: Path) -> None:
    folder = catalog_copy / "ops" / "slo"
    (folder / "slo_api.yaml").write_text("service: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_catalog(folder)
    (folder / "slo_api.yaml").unlink()
    copy = yaml.safe_load((folder / "slo_pool.yaml").read_text())
    copy["service"] = "pool2"
    (folder / "slo_pool2.yaml").write_text(yaml.safe_dump(copy))
    with pytest.raises(ConfigError, match="also defined in"):
        load_catalog(folder)


def test_openslo_export_has_one_slo_document_per_entry() -> None:
    docs = list(yaml.safe_load_all(export_openslo(load_catalog(REPO / "ops" / "slo"))))
    slos = [d for d in docs if d["kind"] == "SLO"]
    assert {d["metadata"]["name"] for d in slos} == set(SEED_TABLE)
    assert all(d["apiVersion"] == "openslo/v1" for d in docs)
    by = {d["metadata"]["name"]: d["spec"] for d in slos}
    assert by["api-errors"]["budgetingMethod"] == "Occurrences"
    assert 'code=~"5.."' in by["api-errors"]["indicator"]["spec"]["ratioMetric"]["bad"][
        "metricSource"]["spec"]["query"]
    assert by["streaming-segment-age"]["objectives"][0] == {
        "displayName": "Live segment age", "op": "lte", "value": 6.0, "target": 0.995,
        "timeSliceTarget": 1, "timeSliceWindow": "5m"}


def test_cli_list_show_export_windows() -> None:
    listed = runner.invoke(app, ["slo", "list", "--json"])
    assert listed.exit_code == 0 and len(yaml.safe_load(listed.stdout)) == len(SEED_TABLE)
    shown = runner.invoke(app, ["slo", "show", "api-errors", "--json"])
    assert shown.exit_code == 0 and '"error_budget": "0.5 %"' in shown.stdout
    missing = runner.invoke(app, ["slo", "show", "nope"])
    assert missing.exit_code == 2 and "no SLO named" in missing.output
    exported = runner.invoke(app, ["slo", "export", "--openslo"])
    assert exported.exit_code == 0 and "openslo/v1" in exported.stdout
    assert runner.invoke(app, ["slo", "export"]).exit_code == 2
    windows = runner.invoke(app, ["slo", "windows", "--json"])
    factors = [w["burn_factor"] for w in yaml.safe_load(windows.stdout)]
    assert factors == ["13.44", "3.5", "1.4", "0.98"]
