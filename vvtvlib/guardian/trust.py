"""The baseline is anchored in the signed manifest: before guarding, every snapshot's
``last_manifest.json`` must verify with a pinned key (``vault/keys/trusted/*.pub`` or the
foundation public key), and the baseline's hashes of the archives and artifacts the manifest
lists must equal the manifest's. Otherwise the guardian refuses to start."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vvtvlib.core.errors import IntegrityError, SignatureError
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.minisign import PublicKey, VerifiedSignature, load_public_key, verify_file

from .baseline import Baseline
from .fsread import open_noatime
from .paths import GuardianPaths

MANIFEST, SIGNATURE = "last_manifest.json", "signature.sig"


@dataclass(frozen=True)
class ManifestCheck:
    folder: str
    key_id: str
    stamp: str | None
    files_checked: int


def trusted_public_keys(layout: StationLayout) -> list[PublicKey]:
    """The pinned keys: every ``*.pub`` in ``vault/keys/trusted/`` plus the foundation key."""
    found: dict[bytes, PublicKey] = {}
    candidates = sorted(layout.trusted_keys.glob("*.pub")) if layout.trusted_keys.is_dir() else []
    if layout.foundation_pub.exists():
        candidates.append(layout.foundation_pub)
    for path in candidates:
        key = load_public_key(path)
        found.setdefault(key.key_id, key)
    if not found:
        raise SignatureError(f"no trusted public key in {layout.trusted_keys} and no "
                             f"{layout.foundation_pub.name}; refusing to guard an unanchored "
                             "snapshot", path=layout.trusted_keys)
    return list(found.values())


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
