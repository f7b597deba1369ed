"""Load: the profiles, the summary and go/no-go arithmetic, and a 20 s Locust run against a
live API (``vvtvctl api up``) through ``vvtvctl api loadtest``. The assertions are on the
structure of what the run computed and on the limits (the abusive tenant is limited, the
well-behaved ones are not), not on absolute speed."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vvtvlib.api.loadtest import (
    PoolSignals,
    Sample,
    go_no_go,
    init_lab_api,
    load_profiles,
    summarize,
)
from vvtvlib.api.supervisor import api_down, api_up


def vvtvctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vvtvlib.cli.vvtvctl", *args],
                          capture_output=True, text=True, check=False, timeout=180)


def test_profiles_from_the_seed() -> None:
    p = load_profiles()
    assert (p["small"].rps, p["small"].duration_s, p["small"].mix) == (50, 120, "small")
    assert (p["large"].rps, p["large"].duration_s, p["large"].mix) == (10, 120, "large")
    assert p["sustained"].rps == 10 and p["sustained"].abusive_users >= 1
    assert 5 <= p["soak"].rps <= 10 and p["soak"].duration_s == 7200 and not p["soak"].ci
    for name in ("small", "large", "sustained"):
        ci = p[f"{name}-ci"]
        assert ci.ci and 20 <= ci.duration_s <= 30 and ci.mix == p[name].mix


def test_summary_and_go_no_go_arithmetic() -> None:
    samples = ([Sample(0.1 * i, "hmac", "expand_queries", 200, float(i), i % 4 == 0)
                for i in range(1, 101)]
               + [Sample(11.0, "jwt", "judge", 502, 50.0), Sample(11.1, "jwt", "judge", 0,
                                                                     10000.0)]
               + [Sample(12.0, "hmac", "judge", 429, 1.0)]
               + [Sample(1.0, "abusive", "expand_queries", 429, 1.0)] * 3
               + [Sample(1.0, "abusive", "expand_queries", 200, 1.0)])
    s = summarize(samples, profile="t", duration_s=10.3,
                  signals=PoolSignals(breaker_opens=2, provider_calls=90))
    assert s.requests == 103 and s.rps == 10.0
    assert s.timeouts == 1 and s.rate_5xx == round(1 / 103, 5)
    assert s.rate_429_well_behaved == round(1 / 103, 5) and s.rate_429_abusive == 0.75
    assert s.cache_hit_rate == 0.25
    # 75 answered by the pool (200, not cached) + one 502 reached it: 90 calls -> 14 extra
    assert s.hedge_rate == round(14 / 76, 4) and s.breaker_opens == 2
    assert s.p50_ms == 50.0 and s.p99_ms == 99.0
    gate = go_no_go(s)
    verdicts = {g.name: g.verdict for g in gate.signals}
    assert verdicts["5xx rate"] == "FAIL" and verdicts["p95 on /v1/infer"] == "PASS"
    assert verdicts["429 for well-behaved clients"] == "PASS"
    assert not gate.passed and gate.to_dict()["verdict"] == "NO-GO"


@pytest.fixture(scope="module")
def live_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = init_lab_api(tmp_path_factory.mktemp("load"))
    api_up(root, timeout_s=60)
    yield root
    api_down(root)


@pytest.mark.system
@pytest.mark.timeout(180)
def test_a_20_s_locust_run_computes_the_go_no_go(live_root: Path, tmp_path: Path) -> None:
    r = vvtvctl("api", "loadtest", "--profile", "sustained-ci", "--root", str(live_root),
                "--out", str(tmp_path), "--json")
    assert r.returncode in (0, 1), r.stderr
    rep = json.loads(r.stdout)
    s, gate = rep["summary"], rep["go_no_go"]
    assert rep["profile"]["duration_s"] == 20 and s["requests"] > 50
    assert {"rps", "p50_ms", "p95_ms", "p99_ms", "rate_5xx", "timeouts",
            "rate_429_well_behaved", "cache_hit_rate", "hedge_rate", "breaker_opens"} <= set(s)
    assert s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"]
    # the abusive tenant (burst 5, 60 rpm, 5 rps, no Retry-After) is limited; the others not
    assert s["rate_429_abusive"] > 0.5 and s["rate_429_well_behaved"] < 0.02
    assert [g["name"] for g in gate["signals"]] == [
        "p95 on /v1/infer", "5xx rate", "429 for well-behaved clients",
        "breaker and hedge under provider failure"]
    assert gate["verdict"] == ("GO" if r.returncode == 0 else "NO-GO")
    assert all(g["verdict"] in ("PASS", "FAIL", "n/a") for g in gate["signals"])
    with open(tmp_path / "sustained-ci_stats.csv", newline="") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert "Aggregated" in rows and any(n.startswith("jwt ") for n in rows)
    assert (tmp_path / "sustained-ci_samples.csv").exists()
    assert not list(tmp_path.glob(".*config.json"))  # the secret does not stay behind


def test_unknown_profile_is_a_usage_error(tmp_path: Path) -> None:
    r = vvtvctl("api", "loadtest", "--profile", "nope", "--root", str(tmp_path))
    assert r.returncode == 2 and "unknown load profile" in r.stderr
