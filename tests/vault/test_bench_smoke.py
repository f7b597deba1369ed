"""The vault benchmark runs end to end at a tiny size (its numbers mean nothing here; the
real run is ``make bench``, reported in README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.plugins.system import need_tool

ROOT = Path(__file__).resolve().parents[2]


def test_bench_vault_small_run(tmp_path: Path) -> None:
    need_tool("zstd")
    out = tmp_path / "vault.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_vault.py"), "--size-mb", "3",
         "--seed-size-mb", "1", "--allow-small-seed", "--repeat", "2",
         "--work", str(tmp_path / "work"),
         "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    names = {r["name"] for r in report["runs"]}
    assert {"ours write (main)", "ours verify+restore (main)", "seed tar -I 'zstd -19'",
            "tar -I 'zstd -T0 -3' + sha256sum"} <= names
    for run in report["runs"]:
        assert run["seconds"] > 0 and run["mb_per_s"] > 0 and run["peak_rss_mib"] > 0
        assert run["min_seconds"] <= run["seconds"] <= run["max_seconds"]
        # every tool twice, interleaved; the seed's zstd -19 once
        assert run["rounds"] == (1 if run["name"].startswith("seed") else 2)
    # the ratio of the medians, and the spread of the per-round ratios
    assert "x-" in report["comparisons"]["write vs tar zstd -T0 -3 + sha256sum"]["rounds"]
    assert "archives vs seed zstd -19 (size)" in report["comparisons"]
    assert out.with_suffix(".md").read_text().startswith("`python benchmarks/bench_vault.py")
