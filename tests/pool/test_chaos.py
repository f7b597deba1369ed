"""``chaos/pool-provider-down.json`` run with the venv's ``chaos`` binary against a lab pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from vvtvlib.pool.lab import PoolLab

REPO = Path(__file__).resolve().parents[2]
CHAOS = Path(sys.executable).with_name("chaos")


def test_provider_down_experiment_keeps_the_steady_state(tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    with PoolLab("fast@2:4,medium@8:12,slow@15:20", root=tmp_path) as lab:
        target = lab.emulators[0]
        proc = subprocess.run(
            [str(CHAOS), "--no-version-check", "run", "chaos/pool-provider-down.json",
             "--journal-path", str(journal)], cwd=REPO, text=True, capture_output=True,
            timeout=120, env={**os.environ, "PYTHONPATH": str(REPO),
                              "VVTV_CHAOS_POOL_ROOT": str(tmp_path),
                              "VVTV_CHAOS_PROVIDER_URL": target.base_url})
        data = json.loads(journal.read_text())
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert data["status"] == "completed" and data["deviated"] is False
        assert [r["status"] for r in data["run"]] == ["succeeded", "succeeded"]
        assert [r["status"] for r in data["rollbacks"]] == ["succeeded"]
        after = data["steady_states"]["after"]["probes"]
        assert all(p["tolerance_met"] and p["output"] is True for p in after)
        assert httpx.get(f"{target.base_url}/_faults").json()["down"] is False
