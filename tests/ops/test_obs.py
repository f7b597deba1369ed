"""`vvtvctl obs`: the lab time scale, the Alertmanager routes, and a live Prometheus +
Alertmanager over a live station on which every dashboard query returns data."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.plugins.station import LabStation
from tests.plugins.system import need_tool
from tests.station.helpers import eventually
from vvtvlib.cli.vvtvctl import app
from vvtvlib.core.errors import UsageError
from vvtvlib.ops import conventions as conv
from vvtvlib.ops.dashboards import dashboard_queries
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.obs import (
    PromClient,
    alertmanager_config,
    lab_banner,
    obs_down,
    obs_status,
    parse_duration,
    read_obs_state,
    scale_expr,
    scale_rules,
)


def test_durations_parse_and_reject() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    with pytest.raises(UsageError):
        parse_duration("5 minutes")


def test_the_time_scale_shortens_for_and_windows_but_not_names(tmp_path: Path) -> None:
    promtool = need_tool("promtool")
    source = (REPO / conv.RULES_FILE).read_text()
    scaled = scale_rules(source, 60, 2.0)
    doc = yaml.safe_load(scaled)
    rules = {r.get("alert") or r["record"]: r for g in doc["groups"] for r in g["rules"]}
    assert rules["StreamSegmentAgeHigh"]["for"] == "2s"  # 2m / 60
    assert rules["PoolProviderDown"]["keep_firing_for"] == "10s"  # 10m / 60
    assert scale_rules("groups: [{name: g, rules: [{alert: A, expr: x > 0, keep_firing_for: "
                       "1m}]}]", 600, 2.0).count("keep_firing_for: 2s") == 1  # floored
    assert "[1m]" in rules["slo:sli_error:ratio_rate1h"]["expr"]  # 1h / 60, name unchanged
    assert "[8s]" in scale_expr("rate(x[5m])", 60, 8.0)  # floored at four scrapes
    assert scale_rules(source, 1, 2.0) == yaml.safe_dump(yaml.safe_load(source),
                                                         sort_keys=False, width=120)
    out = tmp_path / "rules.yaml"
    out.write_text(scaled)
    check = subprocess.run([promtool, "check", "rules", str(out)], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "x60" in lab_banner(60) and "Production" in lab_banner(1)
    with pytest.raises(UsageError):
        scale_rules(source, 0.5, 2.0)


def test_alertmanager_routes_each_severity_to_the_receiver(tmp_path: Path) -> None:
    amtool = need_tool("amtool")
    cfg = alertmanager_config("http://127.0.0.1:9/alerts", 60)
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(cfg))
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for sev, receiver in (("critical", "oncall-critical"), ("minor", "oncall-minor"),
                          ("page", "oncall-page")):
        r = subprocess.run([amtool, "config", "routes", "test", "--config.file", str(path),
                            f"severity={sev}", "alertname=X"], capture_output=True, text=True)
        assert r.stdout.strip() == receiver
    assert cfg["route"]["group_wait"] == "1s"


def _service(query: str) -> str:
    """Which exporter a dashboard query needs."""
    if "llmpool_" in query or '"pool-' in query:
        return "pool"
    if "api_" in query or '"api-' in query:
        return "api"
    return "station"


@pytest.mark.station
@pytest.mark.system
@pytest.mark.timeout(240)
def test_obs_up_scrapes_a_live_station_and_every_dashboard_query_returns_data(
        station_factory: Callable[..., LabStation]) -> None:
    need_tool("prometheus")
    need_tool("prometheus-alertmanager")
    lab = station_factory()
    root = str(lab.root)
    runner = CliRunner()
    r = runner.invoke(app, ["obs", "up", "--root", root, "--time-scale", "60", "--receiver",
                            "http://127.0.0.1:9/alerts", "--scrape-interval", "1s", "--json"])
    assert r.exit_code == 0, r.output
    try:
        state = read_obs_state(root)
        assert state is not None and "x60" in json.loads(r.stdout)["banner"]
        again = runner.invoke(app, ["obs", "up", "--root", root])
        assert again.exit_code == 2 and "already runs" in again.output
        prom = PromClient(state.prometheus_url)
        eventually(lambda: set(obs_status(root).targets.values()) == {"up"}, timeout_s=30)
        st = obs_status(root)
        assert st.rules_loaded > 100 and all(st.ready.values())

        scraped = {t.job for t in state.targets}
        queries = [(f.stem, q) for f in sorted((REPO / "dashboards").glob("*.json"))
                   for q in dashboard_queries(f.read_text())]
        live = [(d, q) for d, q in queries if _service(q) == "station"
                or (_service(q) == "pool" and "pool-api" in scraped)
                or (_service(q) == "api" and "pool-api" in scraped)]
        assert len(live) >= 16  # every streaming and planner panel at least

        def all_answer() -> bool:
            return all(prom.query(q) for _, q in live)
        try:
            eventually(all_answer, timeout_s=60, every=2)
        except AssertionError:
            empty = [(d, q) for d, q in live if not prom.query(q)]
            raise AssertionError(f"dashboard queries without data: {empty}") from None

        s = runner.invoke(app, ["obs", "status", "--root", root])
        assert s.exit_code == 0 and "x60" in s.output and "up" in s.output
    finally:
        assert obs_down(root)
    assert obs_status(root).running is False
    gone = runner.invoke(app, ["obs", "status", "--root", root])
    assert gone.exit_code == 1 and "not running" in gone.output
