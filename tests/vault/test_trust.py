"""The vault's one trust resolver: which pinned keys a verification may use, and its one
error (``UntrustedKey``, exit 1), through the API and through ``logline verify``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vvtvlib.cli import signing_cmds
from vvtvlib.core.errors import SignatureError, UntrustedKey
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault import (
    resolve_station_keys,
    resolve_trusted_keys,
    verify_snapshot,
)

from .conftest import Keys, write_snapshot


@pytest.fixture
def snap(tree: Path, tmp_path: Path, keys: Keys) -> Path:
    folder = tmp_path / "snap"
    write_snapshot(tree, folder, keys)
    return folder


@pytest.fixture
def run():
    app = typer.Typer()
    signing_cmds.register(app)
    runner = CliRunner()

    def invoke(*args: object):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def test_explicit_pubkey_is_the_only_anchor(snap: Path, tmp_path: Path, keys: Keys,
                                            other_keys: Keys) -> None:
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    shutil.copy(keys.public, trusted / "foundation.pub")
    anchor = resolve_trusted_keys(other_keys.public, trusted, snap)
    assert anchor.source == "--pubkey" and anchor.key_ids == [other_keys.pub.id_hex]
    with pytest.raises(SignatureError, match="unknown key"):  # the trusted folder is not used
        verify_snapshot(snap, anchor)
    assert verify_snapshot(snap, resolve_trusted_keys(keys.public, None, snap)).key_id == \
        keys.pub.id_hex


def test_pinned_folder_then_the_station_key_only_when_none_is_pinned(
        snap: Path, tmp_path: Path, keys: Keys, other_keys: Keys) -> None:
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    anchor = resolve_trusted_keys(None, trusted, snap, station_key=keys.public)
    assert anchor.source == "pinned keys" and anchor.key_ids == [keys.pub.id_hex]
    assert verify_snapshot(snap, anchor).generation == 1
    shutil.copy(other_keys.public, trusted / "other.pub")
    anchor = resolve_trusted_keys(None, trusted, snap, station_key=keys.public)
    assert anchor.key_ids == [other_keys.pub.id_hex]
    with pytest.raises(SignatureError, match="unknown key"):
        verify_snapshot(snap, anchor)


def test_no_key_at_all_is_one_clear_error(snap: Path, tmp_path: Path) -> None:
    with pytest.raises(UntrustedKey, match="no trusted public key") as err:
        resolve_trusted_keys(None, tmp_path / "nowhere", snap)
    assert err.value.exit_code == 1 and isinstance(err.value, SignatureError)
    with pytest.raises(UntrustedKey, match="does not exist"):
        resolve_trusted_keys(tmp_path / "missing.pub", None, snap)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UntrustedKey, match=r"no \*\.pub key"):
        resolve_trusted_keys(empty, None, snap)


def test_a_key_inside_the_snapshot_is_refused_however_it_is_named(
        snap: Path, tmp_path: Path, keys: Keys) -> None:
    shipped = snap / "foundation.pub"
    shutil.copy(keys.public, shipped)
    with pytest.raises(UntrustedKey, match="not a trust anchor"):
        resolve_trusted_keys(shipped, None, snap)
    with pytest.raises(UntrustedKey, match="not a trust anchor"):
        resolve_trusted_keys(snap, None, snap)  # the snapshot folder as a key folder
    alias = tmp_path / "looks-pinned.pub"
    alias.symlink_to(shipped)
    with pytest.raises(UntrustedKey, match="not a trust anchor"):
        resolve_trusted_keys(alias, None, snap)
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "foundation.pub").symlink_to(shipped)
    with pytest.raises(UntrustedKey, match="not a trust anchor"):
        resolve_trusted_keys(None, trusted, snap)


def test_station_keys_come_from_the_root(snap: Path, tmp_path: Path, keys: Keys) -> None:
    layout = StationLayout.at(tmp_path / "root")
    layout.trusted_keys.mkdir(parents=True)
    shutil.copy(keys.public, layout.trusted_keys / "foundation.pub")
    anchor = resolve_station_keys(layout, snapshot_dir=snap)
    assert anchor.path == layout.trusted_keys and anchor.key(keys.pub.id_hex) == keys.pub
    with pytest.raises(UntrustedKey):
        anchor.key("0000000000000000")


def test_logline_verify_refuses_a_pubkey_inside_the_snapshot(run, snap: Path,
                                                            keys: Keys) -> None:
    shipped = snap / "foundation.pub"
    shutil.copy(keys.public, shipped)
    res = run("verify", "--snapshots", snap, "--pubkey", shipped)
    assert res.exit_code == 1, res.output
    assert "lies inside the snapshot folder being verified" in res.output
    assert res.output.startswith("error:") and "Traceback" not in res.output
    res = run("verify", "--snapshots", snap, "--pubkey", shipped, "--json")
    assert res.exit_code == 1 and json.loads(res.stdout)["error"] == "UntrustedKey"
    pinned = snap.parent / "pinned.pub"
    shutil.copy(keys.public, pinned)
    assert run("verify", "--snapshots", snap, "--pubkey", pinned).exit_code == 0
