"""The seed's M3 chaos drills, run as Chaos Toolkit experiments with the venv's ``chaos``
binary from the repository root (as an SRE would), on the session's ritual snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vvtvlib.drills.rehearsal import SourceSnapshot

REPO = Path(__file__).resolve().parents[2]
CHAOS = Path(sys.executable).with_name("chaos")

pytestmark = pytest.mark.station


@pytest.fixture
def lab(revival_source: SourceSnapshot, tmp_path: Path) -> Path:
    """A chaos lab whose source is the session's station (no second ritual)."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "source").symlink_to(revival_source.root, target_is_directory=True)
    return lab


def _run(experiment: str, lab: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str],
                                                              dict]:
    journal = tmp_path / f"{Path(experiment).stem}-journal.json"
    proc = subprocess.run([str(CHAOS), "--no-version-check", "run", experiment,
                           "--journal-path", str(journal)], cwd=REPO, text=True,
                          capture_output=True, timeout=240,
                          env={**os.environ, "VVTV_CHAOS_LAB": str(lab),
                               # the repository's package first, whatever the install mode
                               "PYTHONPATH": str(REPO)})
    return proc, json.loads(journal.read_text())


def test_snapshot_corruption_drill_refuses_with_a_clear_report(lab, tmp_path) -> None:
    proc, journal = _run("chaos/snapshot-corruption.json", lab, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert journal["status"] == "completed" and journal["deviated"] is False
    runs = {r["activity"]["name"]: r for r in journal["run"]}
    assert all(r["status"] == "succeeded" for r in runs.values())
    failure = runs["revive-the-corrupted-snapshot"]["output"]
    assert failure["phase"] == "verify" and failure["path"].endswith("snapshot_data.tar.zst")
    corrupted = runs["corrupt-one-file"]["output"]
    assert failure["actual"] == corrupted["sha256_after"] != failure["expected"]
    assert not (lab / "drills" / "snapshot-corruption" / "target").exists()


def test_ffmpeg_divergence_drill_warns_and_adapts_the_preset(lab, tmp_path) -> None:
    proc, journal = _run("chaos/ffmpeg-version-divergence.json", lab, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert journal["status"] == "completed" and journal["deviated"] is False
    runs = {r["activity"]["name"]: r for r in journal["run"]}
    revived = runs["revive-on-this-node"]["output"]
    assert revived["status"] == "succeeded" and revived["continuity_passed"] is True
    assert [d["recorded"] for d in revived["divergences"] if d["what"] == "version:ffmpeg"] \
        == ["4.4.2"]
    assert "encoder.profile" in {c["what"] for c in revived["corrections"]}
    encoder = lab / "drills" / "ffmpeg-version-divergence" / "target" / "system" / "configs" \
        / "encoder.toml"
    assert 'recorded_ffmpeg = "4.4.2"' in encoder.read_text()


def test_a_drill_that_is_not_refused_deviates(lab, tmp_path) -> None:
    """The corruption experiment must fail loudly if nothing was corrupted (no false pass)."""
    experiment = json.loads((REPO / "chaos" / "snapshot-corruption.json").read_text())
    experiment["method"] = [a for a in experiment["method"] if a["name"] != "corrupt-one-file"]
    path = tmp_path / "no-corruption.json"
    path.write_text(json.dumps(experiment))
    proc, journal = _run(str(path), lab, tmp_path)
    assert proc.returncode == 1 and journal["deviated"] is True
