"""Manifest, signature, verification and publication (seed M1 step 4).

* ``lineage``: the generation this snapshot will be and the signature of its ancestor, from
  ``vault/history/`` and the committed snapshots (whichever is newer, so a crash between the
  rename and the history record cannot make a generation number be used twice);
* ``seal``: ``last_manifest.json`` + ``signature.sig`` (foundation key) + ``SHA256SUMS``;
* ``verify``: with the station's pinned keys only (the vault's one trust resolver:
  ``vault/keys/trusted/``, else the foundation public key), never with a key found inside the
  snapshot;
* ``publish``: after the rename, ``vault/manifests/`` gets a copy and ``vault/history/`` a
  generation record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.folder import (
    MANIFEST,
    SIGNATURE,
    list_snapshots,
    seal_snapshot,
    verify_snapshot,
)
from vvtvlib.vault.history import GenerationRecord, read_history, write_record
from vvtvlib.vault.manifest import sha256_file
from vvtvlib.vault.minisign import (
    load_public_key,
    load_secret_key,
    signature_key_id,
    signature_line,
)
from vvtvlib.vault.schema import Manifest
from vvtvlib.vault.trust import resolve_station_keys


@dataclass(frozen=True)
class Lineage:
    generation: int
    ancestor_signature: str | None
    ancestor: str | None  # where the ancestor was found


def lineage(layout: StationLayout) -> Lineage:
    best = Lineage(1, None, None)
    newest = 0
    for rec in read_history(layout.history):
        if rec.generation > newest:
            newest = rec.generation
            best = Lineage(rec.generation + 1, rec.signature,
                           f"history/generation-{rec.generation:04d}.json")
    for snap in list_snapshots(layout.snapshots, sealed=True):
        try:
            meta = json.loads((snap / MANIFEST).read_bytes())
        except ValueError:
            continue
        gen = meta.get("generation")
        if isinstance(gen, int) and gen > newest and not meta.get("dry_run"):
            newest = gen
            best = Lineage(gen + 1, signature_line(snap / SIGNATURE), f"snapshots/{snap.name}")
    return best


def foundation_key_id(layout: StationLayout) -> str:
    """The id of the key that will sign: the foundation secret key's own."""
    return load_secret_key(layout.foundation_key).public.id_hex


@dataclass(frozen=True)
class SealRecord:
    """The manifest written and signed: its digest and size, the key, the trusted comment."""

    manifest_sha256: str
    manifest_size: int
    key_id: str
    trusted_comment: str

    def to_dict(self) -> dict[str, Any]:
        return {"manifest_sha256": self.manifest_sha256, "manifest_size": self.manifest_size,
                "key_id": self.key_id, "trusted_comment": self.trusted_comment}


@dataclass(frozen=True)
class VerifyRecord:
    """The sealed folder verified with the station's pinned keys."""

    key_id: str
    files_checked: int
    generation: int

    def to_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "files_checked": self.files_checked,
                "generation": self.generation}


@dataclass(frozen=True)
class Published:
    """Where the published manifest copy and the generation record went."""

    manifests: Path
    history: Path

    def to_dict(self) -> dict[str, Any]:
        return {"manifests": str(self.manifests), "history": str(self.history)}


def seal(layout: StationLayout, folder: Path, manifest: Manifest) -> SealRecord:
    sealed = seal_snapshot(folder, manifest.to_dict(), layout.foundation_key)
    digest, size = sha256_file(sealed.manifest_path)
    return SealRecord(digest, size, signature_key_id(sealed.signature_path),
                      sealed.trusted_comment)


def verify(layout: StationLayout, folder: Path) -> VerifyRecord:
    result = verify_snapshot(folder, resolve_station_keys(layout, snapshot_dir=folder))
    return VerifyRecord(result.signature.key_id, len(result.checked),
                        result.manifest.generation)


def _copy_atomic(src: Path, dst: Path) -> None:
    atomic_write(dst, src.read_bytes())


def publish(layout: StationLayout, folder: Path, manifest: Manifest) -> Published:
    """``vault/manifests/last_manifest.json`` (+ ``signature.sig``) and the history record."""
    layout.manifests.mkdir(parents=True, exist_ok=True)
    # signature first: a reader that sees the new manifest also sees its signature
    _copy_atomic(folder / SIGNATURE, layout.manifests / SIGNATURE)
    _copy_atomic(folder / MANIFEST, layout.manifests / MANIFEST)
    digest, _ = sha256_file(folder / MANIFEST)
    pub = load_public_key(layout.foundation_pub)
    record = GenerationRecord(
        generation=manifest.generation, kind="snapshot",
        station_id=manifest.station_id, stamp=manifest.stamp,
        created_utc=manifest.created_utc, signature=signature_line(folder / SIGNATURE),
        ancestor_signature=manifest.ancestor_signature, manifest_sha256=digest,
        pubkey=pub.to_base64(), document=f"snapshots/{folder.name}/{MANIFEST}",
        document_sha256=digest)
    path = write_record(layout.history, record)
    return Published(layout.manifests / MANIFEST, path)
