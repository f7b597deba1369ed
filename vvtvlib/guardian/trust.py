"""The baseline is anchored in the signed manifest: before guarding, every snapshot's
``last_manifest.json`` must verify with a pinned key (the vault's one trust resolver:
``vault/keys/trusted/*.pub``, else the station's foundation public key), and the baseline's
hashes of the archives and artifacts the manifest lists must equal the manifest's. Otherwise
the guardian refuses to start."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vvtvlib.core.errors import IntegrityError, SignatureError
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.folder import MANIFEST, SIGNATURE
from vvtvlib.vault.minisign import PublicKey, VerifiedSignature, verify_file
from vvtvlib.vault.trust import resolve_station_keys

from .baseline import Baseline
from .fsread import open_noatime
from .paths import GuardianPaths


@dataclass(frozen=True)
class ManifestCheck:
    folder: str
    key_id: str
    stamp: str | None
    files_checked: int


def pinned_keys(layout: StationLayout) -> list[PublicKey]:
    """The station's pinned keys (``vault.trust``); none lying inside ``vault/snapshots/``."""
    return list(resolve_station_keys(layout, snapshot_dir=layout.snapshots).keys)


def read_noatime(path: Path) -> bytes:
    fd = open_noatime(path)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _verify_copy(pubkeys: list[PublicKey], data: bytes, sig: bytes) -> VerifiedSignature:
    """Verify private copies, so checking a guarded manifest never moves its atime."""
    with tempfile.TemporaryDirectory(prefix="sleepguard-") as tmp:
        (Path(tmp) / MANIFEST).write_bytes(data)
        (Path(tmp) / SIGNATURE).write_bytes(sig)
        return verify_file(pubkeys, Path(tmp) / MANIFEST, Path(tmp) / SIGNATURE)


def manifest_folders(paths: GuardianPaths, baseline: Baseline) -> list[str]:
    """Guarded folders that hold a signed manifest: ``vault/snapshots/<stamp>`` (checked
    against their archives) and ``vault/manifests`` (the published copy: signature only)."""
    return sorted(str(PurePosixPath(e.path).parent) for e in baseline.entries
                  if PurePosixPath(e.path).name == MANIFEST and e.type == "file")


def verify_manifests(paths: GuardianPaths, baseline: Baseline,
                     pubkeys: list[PublicKey]) -> list[ManifestCheck]:
    folders = manifest_folders(paths, baseline)
    snapshots_rel = paths.rel(paths.layout.snapshots)
    if not any(f.startswith(snapshots_rel + "/") for f in folders):
        raise SignatureError("the baseline holds no signed snapshot manifest; nothing to guard "
                             f"(expected {paths.rel(paths.layout.snapshots)}/<stamp>/{MANIFEST})")
    entries = baseline.by_path
    checks = []
    for folder in folders:
        full = paths.root / folder
        manifest_bytes = read_noatime(full / MANIFEST)
        verified = _verify_copy(pubkeys, manifest_bytes, read_noatime(full / SIGNATURE))
        manifest_rel = f"{folder}/{MANIFEST}"
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        if entries[manifest_rel].sha256 != digest:
            raise IntegrityError(f"{manifest_rel}: the baseline's hash is not the signed "
                                 "manifest's", path=manifest_rel,
                                 expected=digest, actual=entries[manifest_rel].sha256)
        if not folder.startswith(snapshots_rel + "/"):
            checks.append(ManifestCheck(folder, verified.key_id, verified.fields.get("stamp"), 1))
            continue
        manifest = json.loads(manifest_bytes)
        listed = {**manifest.get("archives", {}), **manifest.get("artifacts", {})}
        for name, rec in sorted(listed.items()):
            rel = f"{folder}/{name}"
            entry = entries.get(rel)
            if entry is None:
                raise IntegrityError(f"{rel} is listed in the signed manifest but was not in the "
                                     "snapshot when the baseline was taken", path=rel)
            if entry.sha256 != rec.get("sha256") or entry.size != rec.get("size", entry.size):
                raise IntegrityError(f"{rel}: the baseline does not match the signed manifest",
                                     path=rel, expected=rec.get("sha256"), actual=entry.sha256)
        checks.append(ManifestCheck(folder, verified.key_id, verified.fields.get("stamp"),
                                    len(listed)))
    return checks
