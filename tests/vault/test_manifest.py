from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vvtvlib.core.errors import IntegrityError, UnsafeArchive
from vvtvlib.core.evidence import canonical
from vvtvlib.vault.manifest import (
    is_within,
    normalise_path,
    root_hash,
    scan,
    sha256sums_text,
    sums_for_entries,
    write_sha256sums,
)
from vvtvlib.vault.schema import build_manifest, load_manifest, write_manifest


@pytest.mark.parametrize(("raw", "norm"), [
    ("data/plans.sqlite", "data/plans.sqlite"),
    ("./data//plans.sqlite", "data/plans.sqlite"),
    ("storage/ready/", "storage/ready"),
])
def test_normalise_path_accepts_relative_paths(raw: str, norm: str) -> None:
    assert normalise_path(raw) == norm


@pytest.mark.parametrize(("raw", "reason"), [
    ("/etc/passwd", "absolute"),
    ("data/../../etc", "'..'"),
    ("..", "'..'"),
    (b"data/\xff.bin", "UTF-8"),
    ("data/\udcff.bin", "UTF-8"),
    ("", "empty"),
    ("a\x00b", "NUL"),
])
def test_normalise_path_refuses_unsafe_paths(raw: str | bytes, reason: str) -> None:
    with pytest.raises(UnsafeArchive, match=reason):
        normalise_path(raw)


def test_root_hash_changes_with_any_change(tree: Path) -> None:
    base = root_hash(scan(tree, ["system", "storage/ready"]))
    assert base == root_hash(scan(tree, ["storage/ready", "system"]))  # order-free
    clip = tree / "storage" / "ready" / "clip_a.mp4"
    changes = [
        lambda: (tree / "system" / "new.txt").write_text("x"),
        lambda: (tree / "system" / "new.txt").unlink(),
        lambda: clip.rename(clip.with_name("renamed.mp4")),
        lambda: os.chmod(tree / "system" / "bin" / "tool.sh", 0o700),
    ]
    previous = base
    for change in changes:
        change()
        h = root_hash(scan(tree, ["system", "storage/ready"]))
        assert h != previous
        previous = h
    data = bytearray((tree / "system/configs/station.toml").read_bytes())
    data[3] ^= 1
    (tree / "system/configs/station.toml").write_bytes(bytes(data))
    assert root_hash(scan(tree, ["system", "storage/ready"])) != previous


def test_scan_describes_types_modes_and_links(tree: Path) -> None:
    by_path = {e.path: e for e in scan(tree, ["system"])}
    assert by_path["system"].type == "dir"
    assert by_path["system/configs"].mode == 0o750
    assert by_path["system/bin/tool.sh"].mode == 0o755
    link = by_path["system/configs/current.toml"]
    assert link.type == "symlink" and link.target == "station.toml"
    assert by_path["system/configs/station.toml"].to_dict()["mode"] == "0644"


def test_scan_excludes(tree: Path) -> None:
    paths = [e.path for e in scan(tree, ["storage"], exclude=["storage/cache"])]
    assert "storage/ready/clip_a.mp4" in paths
    assert not any(p.startswith("storage/cache") for p in paths)


def test_sha256sums_is_accepted_by_coreutils(tree: Path) -> None:
    sha256sum = shutil.which("sha256sum")
    assert sha256sum, "coreutils sha256sum is part of the base system"
    odd = tree / "storage" / "ready" / "back\\slash.bin"
    odd.write_bytes(b"odd name")
    entries = scan(tree, ["storage/ready", "system"])
    write_sha256sums(tree / "SHA256SUMS", sums_for_entries(entries))
    ok = subprocess.run([sha256sum, "-c", "--strict", "SHA256SUMS"], cwd=tree,
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (tree / "storage/ready/clip_a.mp4").write_bytes(b"tampered")
    bad = subprocess.run([sha256sum, "-c", "SHA256SUMS"], cwd=tree, capture_output=True,
                         text=True, check=False)
    assert bad.returncode == 1 and "clip_a.mp4: FAILED" in bad.stdout


def test_sums_text_is_sorted_and_deterministic() -> None:
    pairs = [("b", "1" * 64), ("a", "2" * 64)]
    assert sha256sums_text(pairs) == f"{'2' * 64}  a\n{'1' * 64}  b\n"


def test_is_within() -> None:
    assert is_within("a/b", "c")
    assert is_within("a/b", "../c")
    assert not is_within("a/b", "../../c")
    assert not is_within("a", "/etc/passwd")


def _fields() -> dict:
    return {"station_id": "lab", "stamp": "2026-01-01_0000Z", "generation": 1,
            "ancestor_signature": None,
            "archives": {"snapshot_db.tar.zst": {
                "sha256": "a" * 64, "size": 10, "tree": "snapshot_db", "root_sha256": "b" * 64,
                "files": [{"path": "data", "type": "dir", "size": 0, "mode": "0755",
                           "sha256": None}]}}}


def test_manifest_roundtrip_is_canonical(tmp_path: Path) -> None:
    manifest = build_manifest(**_fields(), created_utc="2026-01-01T00:00:00.000Z").to_dict()
    raw = write_manifest(tmp_path / "m.json", manifest)
    assert raw == canonical(json.loads(raw)) + b"\n"
    assert write_manifest(tmp_path / "m2.json", dict(reversed(manifest.items()))) == raw
    loaded = load_manifest(tmp_path / "m.json")
    assert loaded.schema_ == "vvtv.manifest/1" and loaded.generation == 1
    assert loaded.archives["snapshot_db.tar.zst"].files[0].path == "data"
    assert canonical(loaded.to_dict()) + b"\n" == raw


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda m: m.update(schema="other/1"), "schema is 'other/1'"),
    (lambda m: m.pop("station_id"), "station_id"),
    (lambda m: m["archives"]["snapshot_db.tar.zst"].update(sha256="xyz"), "sha256"),
    (lambda m: m["archives"]["snapshot_db.tar.zst"]["files"][0].update(path="../x"), "'..'"),
    (lambda m: m["archives"].update({"../evil": m["archives"]["snapshot_db.tar.zst"]}),
     "plain file name"),
])
def test_load_manifest_errors_name_file_and_key(tmp_path: Path, edit, reason: str) -> None:
    manifest = build_manifest(**_fields()).to_dict()
    edit(manifest)
    path = tmp_path / "last_manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=f"last_manifest.json.*{reason}"):
        load_manifest(path)


def test_load_manifest_bad_json_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "last_manifest.json"
    path.write_text('{"schema": ')
    with pytest.raises(IntegrityError, match="last_manifest.json: manifest is not valid JSON"):
        load_manifest(path)
    with pytest.raises(IntegrityError, match="does not exist"):
        load_manifest(tmp_path / "nope.json")
