"""Air-gap export: copy, read back, evidence heads, refusals, and an rclone remote."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.plugins.system import need_tool
from vvtvlib.cli.logline import app
from vvtvlib.core.errors import IntegrityError
from vvtvlib.core.evidence import EvidenceLog, canonical
from vvtvlib.vault import verify_snapshot
from vvtvlib.vault.export import (
    HEADS_DIR,
    export_to_folder,
    load_record,
    plan_export,
    verify_folder,
)
from vvtvlib.vault.rclone import export_to_remote, is_remote

from .conftest import Keys, make_tree, write_snapshot

STAMP = "2026-01-01_0000Z"


def _station(base: Path, keys: Keys, generation: int = 1) -> Path:
    """A station root with a sealed snapshot in its vault and two evidence logs."""
    root = make_tree(base / "station")
    write_snapshot(root, root / "vault" / "snapshots" / STAMP, keys, generation=generation)
    EvidenceLog(root / "vault" / "m1_artifacts.jsonl").append({"step": "seal"})
    audit = EvidenceLog(root / "vault" / "audit" / "api_requests.jsonl")
    for n in range(3):
        audit.append({"n": n})
    return root


@pytest.fixture(autouse=True)
def _no_station_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VVTV_ROOT", raising=False)


@pytest.fixture
def station(tmp_path: Path, keys: Keys) -> Path:
    return _station(tmp_path, keys)


def _snapshot(root: Path) -> Path:
    return root / "vault" / "snapshots" / STAMP


def _logline(*args: object) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.stdout, res.stderr


def _flip(path: Path, offset: int = 100) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".export-" in p.name]


def test_export_to_a_folder_copies_reads_back_and_carries_the_heads(station, keys,
                                                                    tmp_path) -> None:
    media = tmp_path / "offline"
    media.mkdir()
    code, out, err = _logline("export", "--snapshots", _snapshot(station), "--to", media,
                              "--json")
    assert code == 0, err
    result = json.loads(out)
    dest = media / STAMP
    assert result["status"] == "exported" and result["destination"] == str(dest)
    for src in _snapshot(station).iterdir():
        assert (dest / src.name).read_bytes() == src.read_bytes()
    heads = sorted(result["heads"])
    assert heads == [f"{HEADS_DIR}/audit/api_requests.jsonl.head",
                     f"{HEADS_DIR}/m1_artifacts.jsonl.head"]
    head = json.loads((dest / HEADS_DIR / "audit" / "api_requests.jsonl.head").read_text())
    assert head["lines"] == 3
    assert (dest / HEADS_DIR / "m1_artifacts.jsonl.head").read_bytes() == (
        station / "vault" / "m1_artifacts.jsonl.head").read_bytes()
    # The copy stands on its own: the signature verifies and both sums files check.
    verify_snapshot(dest, keys.pub)
    for folder in (dest, dest / HEADS_DIR):
        proc = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=folder,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads((dest / "export.json").read_text())
    assert record["manifest_sha256"] == result["identity"]["manifest_sha256"]
    assert _leftovers(media) == []


def test_the_export_record_reads_back_to_its_own_bytes_and_refuses_a_bad_shape(
        station, tmp_path) -> None:
    media = tmp_path / "offline"
    media.mkdir()
    result = export_to_folder(plan_export(_snapshot(station), station / "vault"), media)
    dest = Path(result.destination)
    raw = (dest / "export.json").read_bytes()
    record = load_record(raw, "export.json")
    assert canonical(record.to_dict()) + b"\n" == raw  # typed in, the same bytes out
    assert record.manifest_sha256 == result.identity.manifest_sha256
    assert record.head_names() == result.heads
    assert verify_folder(dest)[1] == len(record.files)
    data = json.loads(raw)
    del data["files"][0]["sha256"]
    with pytest.raises(IntegrityError, match="not a vvtv.export/1 record"):
        load_record(json.dumps(data).encode(), "export.json")
    with pytest.raises(IntegrityError, match="not a vvtv.export/1 record"):
        load_record(b"[]", "export.json")


def test_a_rerun_verifies_the_export_and_rewrites_nothing(station, tmp_path) -> None:
    media = tmp_path / "offline"
    media.mkdir()
    assert _logline("export", "--snapshots", _snapshot(station), "--to", media)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in (media / STAMP).iterdir()}
    code, out, err = _logline("export", "--snapshots", _snapshot(station), "--to", media,
                              "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "already exported"
    assert {p.name: p.stat().st_mtime_ns for p in (media / STAMP).iterdir()} == before


def test_a_byte_corrupted_between_copy_and_read_back_fails_the_export(station,
                                                                     tmp_path) -> None:
    media = tmp_path / "offline"
    media.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (media / f".{STAMP}.export-{dead.pid}" / "half").mkdir(parents=True)  # a killed export
    plan = plan_export(_snapshot(station), station / "vault")
    with pytest.raises(IntegrityError) as err:
        export_to_folder(plan, media,
                         before_verify=lambda tmp: _flip(tmp / "snapshot_data.tar.zst"))
    assert "snapshot_data.tar.zst reads back as sha256" in err.value.message
    assert not (media / STAMP).exists() and _leftovers(media) == []


@pytest.mark.parametrize("victim", ["snapshot_db.tar.zst",
                                    f"{HEADS_DIR}/m1_artifacts.jsonl.head"])
def test_verify_only_finds_a_corrupted_export(station, tmp_path, victim) -> None:
    media = tmp_path / "offline"
    media.mkdir()
    assert _logline("export", "--snapshots", _snapshot(station), "--to", media)[0] == 0
    assert _logline("export", "--snapshots", _snapshot(station), "--to", media,
                    "--verify-only")[0] == 0
    _flip(media / STAMP / victim, 10)
    code, _, err = _logline("export", "--snapshots", _snapshot(station), "--to", media,
                            "--verify-only")
    assert code == 1 and victim in err and "reads back as sha256" in err


def test_another_export_under_the_same_name_is_not_overwritten(station, keys,
                                                               tmp_path) -> None:
    media = tmp_path / "offline"
    media.mkdir()
    assert _logline("export", "--snapshots", _snapshot(station), "--to", media)[0] == 0
    record = (media / STAMP / "export.json").read_bytes()
    other = _station(tmp_path / "other", keys, generation=2)
    code, _, err = _logline("export", "--snapshots", _snapshot(other), "--to", media)
    assert code == 2 and "already holds another export" in err
    assert (media / STAMP / "export.json").read_bytes() == record


def test_a_corrupt_source_is_refused_before_anything_counts(station, tmp_path) -> None:
    media = tmp_path / "offline"
    media.mkdir()
    _flip(_snapshot(station) / "snapshot_system.tar.zst")
    code, _, err = _logline("export", "--snapshots", _snapshot(station), "--to", media)
    assert code == 1 and "source" in err and "snapshot_system.tar.zst" in err
    assert list(media.iterdir()) == []


def test_bad_destinations_get_their_exit_codes(station, tmp_path, monkeypatch) -> None:
    code, _, err = _logline("export", "--snapshots", _snapshot(station), "--to",
                            tmp_path / "not-mounted")
    assert code == 2 and "not a folder" in err
    code, _, err = _logline("export", "--snapshots", tmp_path / "nothing", "--to", tmp_path)
    assert code == 2 and "does not exist" in err
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    code, _, err = _logline("export", "--snapshots", _snapshot(station), "--to", "b2:bucket/x")
    assert code == 3 and "rclone is not installed" in err


def test_remote_names_are_told_from_local_paths() -> None:
    assert is_remote("b2:bucket/vvtv") and is_remote(":local:/mnt/x") and is_remote("nas:")
    assert not is_remote("/mnt/offline") and not is_remote("./a:b") and not is_remote("rel/a:b")


def test_rclone_remote_export_is_read_back_and_checked(station, tmp_path) -> None:
    need_tool("rclone")
    remote_dir = tmp_path / "remote"
    remote = f":local:{remote_dir}"
    code, out, err = _logline("export", "--snapshots", _snapshot(station), "--to", remote,
                              "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "exported" and len(result["heads"]) == 2
    dest = remote_dir / STAMP
    for src in _snapshot(station).iterdir():
        assert (dest / src.name).read_bytes() == src.read_bytes()
    assert (dest / "export.json").is_file()
    code, out, _ = _logline("export", "--snapshots", _snapshot(station), "--to", remote,
                            "--json")
    assert code == 0 and json.loads(out)["status"] == "already exported"
    _flip(dest / "snapshot_data.tar.zst")
    code, _, err = _logline("export", "--snapshots", _snapshot(station), "--to", remote,
                            "--verify-only")
    assert code == 1 and "snapshot_data.tar.zst reads back as sha256" in err


def test_rclone_corruption_between_send_and_read_back_is_caught(station, tmp_path) -> None:
    need_tool("rclone")
    remote_dir = tmp_path / "remote"
    plan = plan_export(_snapshot(station), station / "vault")
    with pytest.raises(IntegrityError) as err:
        export_to_remote(plan, f":local:{remote_dir}", before_verify=lambda dest: _flip(
            remote_dir / STAMP / "snapshot_db.tar.zst"))
    assert "snapshot_db.tar.zst reads back" in err.value.message
    assert not (remote_dir / STAMP / "export.json").exists()
