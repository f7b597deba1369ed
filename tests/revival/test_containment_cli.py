"""``logline revive`` against snapshots an insider signed with the real key: links that
resolve outside (alone or across archives), members outside their archive's roots, modes
that differ from the manifest, and an archive swapped after the verify phase. Each is
refused in the restore phase with exit 1 and one sentence, nothing is created outside the
target, and the target is never created."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
import zstandard as zstd
from typer.testing import CliRunner

from vvtvlib.cli import revival_cmds
from vvtvlib.revival import flow
from vvtvlib.vault import seal_snapshot

from ..vault.test_adversarial import Member, craft, listing, member
from .synthetic import Synthetic

app = typer.Typer()


@app.callback()
def _root() -> None:
    """logline"""


revival_cmds.register(app)

SYSTEM, DB = "snapshot_system.tar.zst", "snapshot_db.tar.zst"
LINK, DIRT = tarfile.SYMTYPE, tarfile.DIRTYPE


def _members(path: Path) -> list[Member]:
    raw = zstd.ZstdDecompressor().stream_reader(io.BytesIO(path.read_bytes()),
                                                  read_across_frames=True).read()
    out: list[Member] = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        for info in tf.getmembers():
            fh = tf.extractfile(info) if info.isreg() else None
            out.append((info, fh.read() if fh else b""))
    return out


def resign(s: Synthetic, name: str, extra: list[Member], *, roots: list[str] | None = None,
           edit: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
    """Rewrite one archive with ``extra`` members and sign the manifest with the real key."""
    path = s.folder / name
    members = _members(path) + extra
    files = listing(members)
    if edit:
        edit(files)
    record = craft(path, members, files)
    mpath = s.folder / "last_manifest.json"
    manifest = json.loads(mpath.read_text())
    entry = manifest["archives"][name]
    entry.update(sha256=record["sha256"], size=record["size"], files=record["files"])
    if roots is not None:
        entry["roots"] = roots
    seal_snapshot(s.folder, manifest, s.secret)


def _chain(s: Synthetic) -> None:
    resign(s, SYSTEM, [member("system/a", kind=LINK, link="."),
                       member("system/b", kind=LINK, link="a/a/../..")])


def _cross_archive(s: Synthetic) -> None:
    _chain(s)
    resign(s, DB, [member("system/b/evil.txt", b"planted")], roots=["data", "system/b"])


def _plain_escape(s: Synthetic) -> None:
    resign(s, SYSTEM, [member("system/out", kind=LINK, link="../../evil.txt")])


def _trusted_key(s: Synthetic) -> None:
    resign(s, SYSTEM, [member("vault", kind=DIRT, mode=0o755),
                       member("vault/keys", kind=DIRT, mode=0o755),
                       member("vault/keys/trusted", kind=DIRT, mode=0o755),
                       member("vault/keys/trusted/evil.pub", s.pubkey.read_bytes())])


def _declared_trusted_key(s: Synthetic) -> None:
    """Even when the signed record declares the trust anchor as one of its roots."""
    resign(s, SYSTEM, [member("vault", kind=DIRT, mode=0o755),
                       member("vault/keys", kind=DIRT, mode=0o755),
                       member("vault/keys/trusted", kind=DIRT, mode=0o755),
                       member("vault/keys/trusted/evil.pub", s.pubkey.read_bytes())],
           roots=["system", "vault/keys/trusted"])


def _mode(s: Synthetic) -> None:
    def loosen(files: list[dict[str, Any]]) -> None:
        for f in files:
            if f["path"] == "system/configs/station.toml":
                f["mode"] = "0600"
    resign(s, SYSTEM, [], edit=loosen)


CASES: dict[str, tuple[Callable[[Synthetic], None], str]] = {
    "link-chain": (_chain, "snapshot_system.tar.zst: member system/b points through the "
                           "symlink system/a"),
    "cross-archive": (_cross_archive, "snapshot_db.tar.zst: archive root system/b overlaps "
                                      "system of snapshot_system.tar.zst"),
    "link-outside": (_plain_escape, "snapshot_system.tar.zst: member system/out is a symlink "
                                    "(leaving the tree|resolving outside)"),
    "outside-roots": (_trusted_key, "snapshot_system.tar.zst: member vault is outside the "
                                    "archive's roots"),
    "declared-vault-root": (_declared_trusted_key, "snapshot_system.tar.zst: archive root "
                                                   "vault/keys/trusted overlaps vault, which a "
                                                   "restore never replaces"),
    "mode": (_mode, "snapshot_system.tar.zst: member system/configs/station.toml has mode "
                    "0644, the manifest says 0600"),
}


def _revive(s: Synthetic, tmp_path: Path) -> tuple[Any, Path, Path]:
    site = tmp_path / "site"
    site.mkdir()
    report = tmp_path / "out" / "report.json"
    folder = s.folder
    result = CliRunner().invoke(app, [
        "revive", "--snapshots", str(folder),
        "--verify", f"{folder}/last_manifest.json:{folder}/signature.sig",
        "--target", str(site / "newnode"), "--pubkey", str(s.pubkey),
        "--strict", "--prove-continuity", "--report", str(report)])
    return result, site, report


def _refused_in_restore(result: Any, site: Path, report: Path, tmp_path: Path,
                        reason: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "revival failed in restore" in errors[0], result.stderr
    failure = json.loads(report.read_text())["failure"]
    assert failure["phase"] == "restore" and failure["target_untouched"] is True
    assert re.search(reason, failure["message"]), failure["message"]
    assert sorted(p.name for p in site.iterdir()) == []  # no target, no staging, no evil.txt
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_insider_signed_snapshot_is_refused(case: str, synthetic: Synthetic,
                                            tmp_path: Path) -> None:
    build, reason = CASES[case]
    build(synthetic)
    result, site, report = _revive(synthetic, tmp_path)
    _refused_in_restore(result, site, report, tmp_path, reason)


def test_archive_swapped_after_verify_is_refused(synthetic: Synthetic, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the verify and restore phases the data archive is replaced by one with the
    same members (so every member hash still matches) but other bytes."""
    original = flow.restore_to_staging

    def swap_then_restore(snapshots: Path, *args: Any, **kw: Any) -> Any:
        path = snapshots / "snapshot_data.tar.zst"
        raw = zstd.ZstdDecompressor().stream_reader(io.BytesIO(path.read_bytes()),
                                                  read_across_frames=True).read()
        path.write_bytes(zstd.ZstdCompressor(level=7, write_checksum=True).compress(raw))
        return original(snapshots, *args, **kw)

    monkeypatch.setattr(flow, "restore_to_staging", swap_then_restore)
    result, site, report = _revive(synthetic, tmp_path)
    _refused_in_restore(result, site, report, tmp_path,
                        "snapshot_data.tar.zst: .*changed since it was verified")
