from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.plugins.system import need_tool
from vvtvlib.cli import signing_cmds

from .conftest import Keys, write_snapshot


@pytest.fixture
def run():
    app = typer.Typer()
    signing_cmds.register(app)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def test_keygen_sign_verify(run, tmp_path: Path) -> None:
    key = tmp_path / "k" / "foundation_ed25519"
    res = run("keygen", "--out", key, "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert os.stat(key).st_mode & 0o777 == 0o600 and Path(info["public_key"]).exists()
    doc = tmp_path / "m.json"
    doc.write_text("{}\n")
    res = run("sign", "--key", key, "--in", doc, "--out", tmp_path / "m.sig",
              "--trusted", "station=lab", "--trusted", "generation=3")
    assert res.exit_code == 0, res.output
    res = run("verify", "--pubkey", f"{key}.pub", "--in", doc, "--sig", tmp_path / "m.sig",
              "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["fields"]["generation"] == "3"
    minisign = need_tool("minisign")
    ok = subprocess.run([minisign, "-V", "-p", f"{key}.pub", "-m", str(doc), "-x",
                         str(tmp_path / "m.sig")], capture_output=True, check=False)
    assert ok.returncode == 0
    doc.write_text('{"x": 1}\n')
    res = run("verify", "--pubkey", f"{key}.pub", "--in", doc, "--sig", tmp_path / "m.sig")
    assert res.exit_code == 1
    assert "does not match the file" in res.output
    assert "Traceback" not in res.output


def test_keygen_refuses_to_overwrite_and_sign_refuses_open_key(run, keys: Keys,
                                                               tmp_path: Path) -> None:
    res = run("keygen", "--out", keys.secret)
    assert res.exit_code == 2 and "already exists" in res.output
    os.chmod(keys.secret, 0o644)
    doc = tmp_path / "doc"
    doc.write_text("x")
    res = run("sign", "--key", keys.secret, "--in", doc, "--out", tmp_path / "doc.sig")
    assert res.exit_code == 1 and "readable by group or others" in res.output


def test_verify_snapshot_folder(run, tree: Path, tmp_path: Path, keys: Keys,
                                other_keys: Keys) -> None:
    folder = tmp_path / "snap"
    write_snapshot(tree, folder, keys)
    res = run("verify", "--snapshots", folder, "--pubkey", keys.public, "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["ok"] and report["station_id"] == "lab" and len(report["files"]) == 5
    res = run("verify", "--snapshots", folder, "--pubkey", other_keys.public, "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["error"] == "SignatureError"
    data = bytearray((folder / "snapshot_db.tar.zst").read_bytes())
    data[100] ^= 1
    (folder / "snapshot_db.tar.zst").write_bytes(bytes(data))
    res = run("verify", "--snapshots", folder, "--pubkey", keys.public)
    assert res.exit_code == 1 and "snapshot_db.tar.zst: sha256 is" in res.output


def test_verify_uses_the_stations_trusted_keys_never_the_snapshots(run, tree: Path,
                                                                   tmp_path: Path,
                                                                   keys: Keys) -> None:
    folder = tmp_path / "snap"
    write_snapshot(tree, folder, keys)
    root = tmp_path / "root"
    res = run("verify", "--snapshots", folder, "--root", root)
    assert res.exit_code == 1 and "no trusted public key" in res.output
    trusted = root / "vault" / "keys" / "trusted"
    trusted.mkdir(parents=True)
    (trusted / "foundation.pub").write_bytes(keys.public.read_bytes())
    res = run("verify", "--snapshots", folder, "--root", root)
    assert res.exit_code == 0, res.output
