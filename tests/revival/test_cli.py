"""``logline revive`` as an operator runs it: exit codes, one sentence, --json, --report."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from vvtvlib.cli import revival_cmds
from vvtvlib.revival import parse_verify_pair

app = typer.Typer()


@app.callback()
def _root() -> None:
    """logline"""


revival_cmds.register(app)


def test_tampered_snapshot_exits_1_with_a_report_and_json(synthetic, tmp_path) -> None:
    archive = synthetic.folder / "snapshot_system.tar.zst"
    data = bytearray(archive.read_bytes())
    data[-20] ^= 0xFF
    archive.write_bytes(bytes(data))
    report = tmp_path / "out" / "report.json"
    folder = synthetic.folder
    result = CliRunner().invoke(app, [
        "revive", "--snapshots", str(folder),
        "--verify", f"{folder}/last_manifest.json:{folder}/signature.sig",
        "--target", str(tmp_path / "newnode"), "--pubkey", str(synthetic.pubkey),
        "--strict", "--prove-continuity", "--report", str(report), "--json"])
    assert result.exit_code == 1, result.output
    printed = json.loads(result.stdout)
    assert printed["status"] == "failed" and printed["failure"]["phase"] == "verify"
    assert json.loads(report.read_text())["failure"] == printed["failure"]
    assert "snapshot_system.tar.zst" in result.stderr and "revival failed in verify" in \
        result.stderr
    assert not (tmp_path / "newnode").exists()


def test_usage_errors_exit_2(synthetic, tmp_path) -> None:
    result = CliRunner().invoke(app, ["revive", "--snapshots", str(synthetic.folder),
                                      "--verify", "no-colon-here", "--target",
                                      str(tmp_path / "t")])
    assert result.exit_code == 2 and "MANIFEST:SIGNATURE" in result.stderr


def test_verify_pair_uses_the_last_colon() -> None:
    m, s = parse_verify_pair("/mnt/snap:a/last_manifest.json:/mnt/snap/signature.sig")
    assert str(m) == "/mnt/snap:a/last_manifest.json" and str(s) == "/mnt/snap/signature.sig"
