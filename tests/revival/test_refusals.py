"""Refusals: every one leaves the target exactly as it was and writes a failure report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vvtvlib.core.errors import SignatureError, UsageError, VVTVError
from vvtvlib.revival import RevivalOptions, RevivalReport, revive
from vvtvlib.vault import generate_keypair, sign_file
from vvtvlib.vault.history import GenerationRecord, write_record

from .conftest import tree_state
from .synthetic import Synthetic


def _options(s: Synthetic, tmp_path: Path, **kw: object) -> RevivalOptions:
    base: dict[str, object] = {"snapshots": s.folder, "target": tmp_path / "newnode",
                               "pubkey": s.pubkey, "report_path": tmp_path / "report.json"}
    base.update(kw)
    return RevivalOptions(**base)  # type: ignore[arg-type]


def _refused(options: RevivalOptions) -> tuple[VVTVError, dict]:
    before = tree_state(options.target)
    with pytest.raises(VVTVError) as err:
        revive(options)
    assert isinstance(err.value.journal, RevivalReport)
    assert tree_state(options.target) == before, "the target was touched"
    leftovers = [p for p in options.target.parent.iterdir() if ".revive-" in p.name]
    assert leftovers == []
    report = json.loads(options.report_path.read_text())
    assert report["status"] == "failed" and report["failure"]["target_untouched"] is True
    return err.value, report


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_tampered_archive_is_named_with_expected_and_actual_hash(synthetic, tmp_path) -> None:
    archive = synthetic.folder / "snapshot_data.tar.zst"
    _flip_byte(archive, archive.stat().st_size // 2)
    err, report = _refused(_options(synthetic, tmp_path))
    failure = report["failure"]
    assert failure["phase"] == "verify" and err.exit_code == 1
    assert failure["path"].endswith("snapshot_data.tar.zst")
    assert failure["expected"] != failure["actual"] and len(failure["actual"]) == 64
    assert not (tmp_path / "newnode").exists()


def test_manifest_signed_by_an_untrusted_key_is_refused(synthetic, tmp_path) -> None:
    rogue = tmp_path / "rogue" / "key"
    generate_keypair(rogue)
    sign_file(rogue, synthetic.folder / "last_manifest.json", synthetic.folder / "signature.sig",
              {"station": "synthetic", "generation": 3, "stamp": "2026-01-01_0000Z"})
    err, report = _refused(_options(synthetic, tmp_path))
    assert isinstance(err, SignatureError) and "unknown key" in err.message
    assert report["failure"]["phase"] == "verify"


def test_wrong_pubkey_is_refused(synthetic, tmp_path) -> None:
    other = tmp_path / "other" / "key"
    generate_keypair(other)
    err, _ = _refused(_options(synthetic, tmp_path, pubkey=other.with_name("key.pub")))
    assert isinstance(err, SignatureError)


def test_a_key_shipped_in_the_snapshot_is_not_a_trust_anchor(synthetic, tmp_path) -> None:
    shipped = synthetic.folder / "foundation.pub"
    shipped.write_bytes(synthetic.pubkey.read_bytes())
    err, _ = _refused(_options(synthetic, tmp_path, pubkey=shipped))
    assert "trust anchor" in err.message


def test_no_trusted_key_at_all_is_refused(synthetic, tmp_path) -> None:
    err, _ = _refused(_options(synthetic, tmp_path, pubkey=None))
    assert "no trusted public key" in err.message


def test_edited_manifest_is_refused(synthetic, tmp_path) -> None:
    path = synthetic.folder / "last_manifest.json"
    path.write_text(path.read_text().replace('"generation":3', '"generation":9'))
    err, _ = _refused(_options(synthetic, tmp_path))
    assert isinstance(err, SignatureError)


def _blocklist(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "blocklist.json"
    path.write_text(json.dumps({"schema": "vvtv.blocklist/1", **data}))
    return path


def test_blocklisted_file_hash_is_refused_during_restore(synthetic, tmp_path) -> None:
    bl = _blocklist(tmp_path, {"sha256": [{"sha256": synthetic.clip_sha256,
                                           "reason": "flagged by the content detector"}]})
    err, report = _refused(_options(synthetic, tmp_path, blocklists=[bl]))
    assert report["failure"]["phase"] == "restore"
    assert report["failure"]["path"] == synthetic.clip.as_posix()
    assert "flagged by the content detector" in err.message


def test_blocklisted_frame_is_refused_by_perceptual_hash(synthetic, tmp_path) -> None:
    from vvtvlib.media.compare import phash
    from vvtvlib.media.sampling import sample_frames

    # Flag a frame of the clip in the target node's own policy (vault/blocklist.json).
    target = tmp_path / "newnode"
    (target / "vault" / "keys" / "trusted").mkdir(parents=True)
    (target / "vault" / "keys" / "trusted" / "foundation.pub").write_bytes(
        synthetic.pubkey.read_bytes())
    station_clip = synthetic.secret.parent.parent / "station" / synthetic.clip
    flagged = sample_frames(station_clip, tmp_path / "frames")[0][1]
    (target / "vault" / "blocklist.json").write_text(json.dumps(
        {"schema": "vvtv.blocklist/1", "phash": [{"phash": phash(flagged), "max_distance": 4}]}))
    err, report = _refused(_options(synthetic, tmp_path, pubkey=None))
    assert report["failure"]["phase"] == "restore"
    assert "item-0001.mp4@0s" in err.message


def test_older_generation_than_the_target_history_is_refused(synthetic, tmp_path) -> None:
    target = tmp_path / "newnode"
    write_record(target / "vault" / "history", GenerationRecord(
        5, "revival", "synthetic", "2026-02-01_0000Z", "2026-02-01T00:00:00.000Z", "SIG5",
        "SIG4"))
    err, report = _refused(_options(synthetic, tmp_path))
    assert report["failure"]["phase"] == "verify"
    assert "older than generation 5" in err.message and "--force-rollback" in err.message


def test_non_empty_target_is_refused_without_force(synthetic, tmp_path) -> None:
    target = tmp_path / "newnode"
    (target / "data").mkdir(parents=True)
    (target / "data" / "precious.sqlite").write_bytes(b"keep me")
    err, report = _refused(_options(synthetic, tmp_path))
    assert isinstance(err, UsageError) and err.exit_code == 2
    assert report["failure"]["phase"] == "provision"


def test_dry_run_samples_cannot_be_revived(synthetic, tmp_path) -> None:
    import json as _json

    from vvtvlib.vault import seal_snapshot

    manifest = _json.loads((synthetic.folder / "last_manifest.json").read_text())
    manifest["dry_run"] = True
    seal_snapshot(synthetic.folder, manifest, synthetic.secret)
    err, _ = _refused(_options(synthetic, tmp_path))
    assert "dry-run" in err.message


def test_a_refusal_removes_the_parent_folders_it_had_to_create(synthetic, tmp_path) -> None:
    # verify passes; the content gate refuses after the staging folder (and its parents) exist
    bl = _blocklist(tmp_path, {"sha256": [synthetic.clip_sha256]})
    options = _options(synthetic, tmp_path, target=tmp_path / "new" / "deep" / "node",
                       blocklists=[bl])
    with pytest.raises(VVTVError) as err:
        revive(options)
    assert isinstance(err.value.journal, RevivalReport)
    assert err.value.journal.failure and err.value.journal.failure["phase"] == "restore"
    assert not (tmp_path / "new").exists()


def test_garbled_manifest_is_refused_by_verify(synthetic, tmp_path) -> None:
    (synthetic.folder / "last_manifest.json").write_text("{not json")
    err, report = _refused(_options(synthetic, tmp_path))
    assert report["failure"]["phase"] == "verify" and isinstance(err, SignatureError)
