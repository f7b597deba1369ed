"""Generated rules: Sloth's stages and names, Decimal thresholds, the data-driven window
table, labels and annotations on every alert, and the committed files never stale."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import yaml

from vvtvlib.ops import conventions as conv
from vvtvlib.ops.catalog import load_catalog
from vvtvlib.ops.generate import REPO, generate, stale, write
from vvtvlib.ops.rules import build_rules
from vvtvlib.ops.windows import burn_factor, load_windows

RULES = yaml.safe_load((REPO / conv.RULES_FILE).read_text())


def _alerts() -> list[dict]:
    return [r for g in RULES["groups"] for r in g["rules"] if "alert" in r]


def test_the_committed_generated_files_are_not_stale() -> None:
    assert stale(generate()) == [], "run `vvtvctl slo generate` and commit the result"


def test_a_catalog_change_makes_the_files_stale(catalog_copy: Path) -> None:
    gen = generate(catalog_copy)
    write(gen, catalog_copy)
    assert stale(generate(catalog_copy), catalog_copy) == []
    path = catalog_copy / "ops" / "slo" / "slo_api.yaml"
    path.write_text(path.read_text().replace("objective: 99.5", "objective: 99.9"))
    assert conv.RULES_FILE in stale(generate(catalog_copy), catalog_copy)


def test_burn_factors_come_from_the_data_table(catalog_copy: Path) -> None:
    table = load_windows(REPO / conv.WINDOWS_FILE)
    assert [w.factor for w in table.windows] == [Decimal("13.44"), Decimal("3.5"),
                                                  Decimal("1.4"), Decimal("0.98")]
    assert burn_factor(Decimal(2), "30d", "1h") == Decimal("14.4")  # the workbook's 30-day page
    path = catalog_copy / conv.WINDOWS_FILE
    path.write_text(path.read_text().replace("budget_percent: 8,", "budget_percent: 10,"))
    changed = load_windows(path)
    assert changed.windows[0].factor == Decimal("16.8")
    rules = build_rules(load_catalog(catalog_copy / "ops" / "slo"), changed).to_yaml()
    assert "(16.8 * 0.005)" in rules and "(13.44 * 0.005)" not in rules


def test_no_float_noise_in_any_rule() -> None:
    text = (REPO / conv.RULES_FILE).read_text()
    assert not re.search(r"\d\.\d*(0000|9999)\d", text)
    assert "(13.44 * 0.005)" in text and "(0.98 * 0.01)" in text and "(3.5 * 0.002)" in text


def test_sloth_names_and_windows() -> None:
    records = {r["record"] for g in RULES["groups"] for r in g["rules"] if "record" in r}
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "7d"):
        assert f"slo:sli_error:ratio_rate{window}" in records
    assert {conv.OBJECTIVE, conv.ERROR_BUDGET, conv.PERIOD_BUDGET_REMAINING,
            conv.CURRENT_BURN_RATE} <= records
    sli = [r for g in RULES["groups"] for r in g["rules"]
           if r.get("record") == "slo:sli_error:ratio_rate1h"]
    assert all(set(r["labels"]) == {"sloth_id", "sloth_service", "sloth_slo", "sloth_window"}
               for r in sli)


def test_every_alert_has_service_severity_summary_and_runbook() -> None:
    for rule in _alerts():
        assert rule["labels"]["service"] in {"streaming", "pool", "api", "planner"}, rule
        assert rule["labels"]["severity"] in conv.SEVERITIES, rule
        assert rule["annotations"]["summary"], rule
        assert re.fullmatch(r"ops/runbooks/rb_\w+\.md#[a-z0-9-]+",
                            rule["annotations"]["runbook_url"]), rule


def test_burn_alerts_page_and_ticket_absent_per_slo_and_zero_tolerance_direct() -> None:
    alerts = _alerts()
    burn = [a for a in alerts if a["alert"].endswith("ErrorBudgetBurn")]
    assert len(burn) == 2 * 7
    assert {a["labels"]["sloth_severity"] for a in burn} == {"page", "ticket"}
    page = next(a for a in burn if a["alert"] == "ApiErrorsErrorBudgetBurn"
                and a["labels"]["sloth_severity"] == "page")
    assert "slo:sli_error:ratio_rate5m" in page["expr"] and "ratio_rate1h" in page["expr"]
    absent = [a for a in alerts if a["alert"].endswith("MetricAbsent")]
    assert len(absent) == 8 and all(a["expr"].startswith("absent(") for a in absent)
    assert all(a["labels"]["severity"] == "critical" for a in absent)
    starvation = next(a for a in alerts if a["alert"] == "QueueStarvation")
    assert starvation["expr"] == "min(queue_buffer_duration_minutes) < 30"
    assert starvation["for"] == "2m" and starvation["labels"]["severity"] == "critical"


def test_the_seed_explicit_alerts_keep_their_meaning() -> None:
    by = {a["alert"]: a for a in _alerts()}
    expect = {
        "StreamSegmentAgeHigh": ("critical", "2m", "> 10"),
        "PoolTimeoutsHigh": ("critical", "5m", "* 60 > 10"),
        "ApiErrorRateHigh": ("critical", "5m", "> 0.01"),
        "PoolInferLatencyHigh": ("major", "10m", "> 1500"),
        "EncoderDropsHigh": ("major", "10m", "> 0.002"),
        "QueueBufferLow": ("major", "10m", "< 45"),
        "CuratorApplyRateHigh": ("minor", "1h", "> 0.2"),
        "AutopilotRollback": ("minor", None, "> 0"),
        "PoolProviderDown": ("major", "1m", "(increase(llmpool_breaker_open_total[5m])) > 0"),
    }
    for name, (severity, for_, tail) in expect.items():
        rule = by[name]
        assert rule["labels"]["severity"] == severity and rule.get("for") == for_, name
        assert rule["expr"].endswith(tail), (name, rule["expr"])


def test_pool_provider_down_is_per_provider_and_shrinks_with_the_lab_time_scale() -> None:
    from vvtvlib.ops.obs import scale_rules

    rule = next(a for a in _alerts() if a["alert"] == "PoolProviderDown")
    assert rule["expr"].startswith("sum by (provider) (")
    assert rule["annotations"]["runbook_url"] == "ops/runbooks/rb_pool.md#poolproviderdown"
    lab = yaml.safe_load(scale_rules((REPO / conv.RULES_FILE).read_text(), 60, 1.0))
    scaled = next(r for g in lab["groups"] for r in g["rules"]
                  if r.get("alert") == "PoolProviderDown")
    # a breaker opening stays in the window 5 s and pages after 1 s in a x60 game day
    assert "[5s]" in scaled["expr"] and scaled["for"] == "1s"
    # one outage, one alert: it stays firing 10 minutes after the last opening (10 s at
    # x60), longer with the window than the breaker's cooldown, which the lab does not scale
    assert rule["keep_firing_for"] == "10m" and scaled["keep_firing_for"] == "10s"


def test_generate_cli_writes_then_checks(catalog_copy: Path) -> None:
    from typer.testing import CliRunner

    from vvtvlib.cli.vvtvctl import app

    runner = CliRunner()
    repo = str(catalog_copy)
    assert runner.invoke(app, ["slo", "generate", "--check", "--repo", repo]).exit_code == 1
    written = runner.invoke(app, ["slo", "generate", "--repo", repo, "--json"])
    assert written.exit_code == 0 and conv.RULES_FILE in written.stdout
    assert (catalog_copy / "dashboards" / "llm_pool.json").exists()
    assert runner.invoke(app, ["slo", "generate", "--check", "--repo", repo]).exit_code == 0
    assert runner.invoke(app, ["slo", "generate", "--check"]).exit_code == 0  # the repository
