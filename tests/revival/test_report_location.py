"""Where ``logline revive`` writes its report: decided before any work, never inside the
target (a refusal leaves the target untouched even when run from inside it), and a
``--report`` folder gets ``resurrection_report.json`` inside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vvtvlib.cli import revival_cmds
from vvtvlib.core.errors import UsageError, VVTVError
from vvtvlib.revival import RevivalOptions, RevivalReport, revive
from vvtvlib.revival.report import report_location

from .conftest import tree_state
from .synthetic import Synthetic

app = typer.Typer()


@app.callback()
def _root() -> None:
    """logline"""


revival_cmds.register(app)


def _tamper(s: Synthetic) -> None:
    archive = s.folder / "snapshot_data.tar.zst"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))


def _prepared_target(tmp_path: Path, s: Synthetic) -> Path:
    target = tmp_path / "newnode"
    trusted = target / "vault" / "keys" / "trusted"
    trusted.mkdir(parents=True)
    (trusted / "foundation.pub").write_bytes(s.pubkey.read_bytes())
    return target


def test_refused_revival_run_from_inside_the_target_leaves_it_untouched(
        synthetic: Synthetic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _prepared_target(tmp_path, synthetic)
    _tamper(synthetic)
    before = tree_state(target)
    monkeypatch.chdir(target / "vault")
    with pytest.raises(VVTVError) as err:
        revive(RevivalOptions(snapshots=synthetic.folder, target=target))
    assert isinstance(err.value.journal, RevivalReport)
    assert tree_state(target) == before, "the refused revival wrote into the target"
    report = synthetic.folder.parent / "resurrection_report.json"  # beside the snapshot folder
    failed = json.loads(report.read_text())
    assert failed["status"] == "failed" and failed["failure"]["target_untouched"] is True
    assert failed["options"]["report_path"] == str(report)


def test_report_folder_gets_the_report_inside_it(synthetic: Synthetic, tmp_path: Path) -> None:
    _tamper(synthetic)
    out = tmp_path / "reports"
    out.mkdir()
    with pytest.raises(VVTVError) as err:
        revive(RevivalOptions(snapshots=synthetic.folder, target=tmp_path / "newnode",
                              pubkey=synthetic.pubkey, report_path=out))
    report = err.value.journal
    assert isinstance(report, RevivalReport)
    assert report.failure and report.failure["phase"] == "verify"
    assert json.loads((out / "resurrection_report.json").read_text())["status"] == "failed"


def test_report_inside_the_target_is_refused_before_any_work(synthetic: Synthetic,
                                                             tmp_path: Path) -> None:
    target = _prepared_target(tmp_path, synthetic)
    _tamper(synthetic)
    before = tree_state(target)
    result = CliRunner().invoke(app, [
        "revive", "--snapshots", str(synthetic.folder), "--target", str(target),
        "--report", str(target / "vault")])
    assert result.exit_code == 2, result.output
    assert "lies inside the target" in result.stderr and "Traceback" not in result.output
    assert "revival failed" not in result.stderr  # refused before the first phase
    assert tree_state(target) == before


def test_report_folder_through_the_cli(synthetic: Synthetic, tmp_path: Path) -> None:
    _tamper(synthetic)
    out = tmp_path / "reports"
    out.mkdir()
    result = CliRunner().invoke(app, [
        "revive", "--snapshots", str(synthetic.folder), "--target", str(tmp_path / "newnode"),
        "--pubkey", str(synthetic.pubkey), "--report", str(out)])
    assert result.exit_code == 1, result.output
    assert str(out / "resurrection_report.json") in result.stderr.replace("\n", "")
    assert json.loads((out / "resurrection_report.json").read_text())["status"] == "failed"


def test_default_location_rules(tmp_path: Path) -> None:
    target, snaps, elsewhere = tmp_path / "t", tmp_path / "media" / "snap", tmp_path / "cwd"
    for folder in (target / "vault", snaps, elsewhere):
        folder.mkdir(parents=True)
    name = "resurrection_report.json"
    assert report_location(None, target, snaps, cwd=elsewhere) == elsewhere / name
    assert report_location(None, target, snaps, cwd=target / "vault") == snaps.parent / name
    inner = target / "vault" / "snapshots" / "s"
    inner.mkdir(parents=True)
    assert report_location(None, target, inner, cwd=target) == tmp_path / name
    assert report_location(elsewhere, target, snaps) == elsewhere / name
    assert report_location(elsewhere / "r.json", target, snaps) == elsewhere / "r.json"
    with pytest.raises(UsageError, match="inside the target"):
        report_location(target / "r.json", target, snaps)
    (elsewhere / "devnull").symlink_to("/dev/null")
    with pytest.raises(UsageError, match="not a regular file"):
        report_location(elsewhere / "devnull", target, snaps)
