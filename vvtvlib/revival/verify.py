"""Verify: the manifest's signature against a pinned key, then every archive and artifact.

The trust anchor is ``--pubkey`` (a ``.pub`` file or a folder of them) or the target's
``vault/keys/trusted/``: never a key found in the snapshot folder being verified, which an
attacker who can write the snapshot could have replaced along with the signature.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import SignatureError
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.folder import verify_snapshot as vault_verify_snapshot
from vvtvlib.vault.minisign import PublicKey, load_public_keys, signature_line
from vvtvlib.vault.schema import Manifest


@dataclass
class TrustAnchor:
    keys: list[PublicKey]
    source: str  # "--pubkey" | "target trusted keys"
    path: Path

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "path": str(self.path),
                "key_ids": [k.id_hex for k in self.keys]}


@dataclass
class VerifiedSnapshot:
    manifest: Manifest
    manifest_sha256: str
    signature_line: str
    key_id: str
    trusted_fields: dict[str, str]
    checked: list[dict[str, Any]] = field(default_factory=list)

    @property
    def generation(self) -> int:
        return self.manifest.generation


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def trust_anchor(pubkey: Path | None, target: Path, snapshots: Path) -> TrustAnchor:
    if pubkey is not None:
        if _inside(pubkey, snapshots):
            raise SignatureError(
                f"{pubkey} lies inside the snapshot folder being verified; a key shipped with "
                "a snapshot is not a trust anchor (pin the foundation key from your own "
                "records with --pubkey)", path=pubkey)
        return TrustAnchor(load_public_keys(pubkey), "--pubkey", pubkey)
    trusted = StationLayout.at(target).trusted_keys
    if not trusted.is_dir() or not any(trusted.glob("*.pub")):
        raise SignatureError(
            f"no trusted public key: pass --pubkey or install the foundation key in {trusted}",
            path=trusted)
    return TrustAnchor(load_public_keys(trusted), "target trusted keys", trusted)


def verify(snapshots: Path, manifest_path: Path, sig_path: Path, anchor: TrustAnchor
           ) -> VerifiedSnapshot:
    """The vault's folder verification (signature with the pinned keys on the very bytes
    parsed, trusted comment against the manifest, then every archive and artifact)."""
    checked = vault_verify_snapshot(snapshots, anchor.keys, manifest_path=manifest_path,
                                    sig_path=sig_path)
    return VerifiedSnapshot(checked.manifest, checked.checked[0].sha256,
                            signature_line(sig_path), checked.signature.key_id,
                            dict(checked.signature.fields),
                            [{"file": c.name, "kind": c.kind, "size": c.size,
                              "sha256": c.sha256} for c in checked.checked])


def minisign_cross_check(manifest_path: Path, sig_path: Path, anchor: TrustAnchor,
                         key_id: str) -> bool | None:
    """Ask the standard ``minisign -V`` too, when installed (None when it is not)."""
    exe = shutil.which("minisign")
    if exe is None:
        return None
    key = next(k for k in anchor.keys if k.id_hex == key_id)
    proc = subprocess.run([exe, "-V", "-q", "-P", key.to_base64(), "-m", str(manifest_path),
                           "-x", str(sig_path)], capture_output=True, text=True, timeout=30,
                          check=False)
    if proc.returncode != 0:
        raise SignatureError(f"minisign -V refused {sig_path}: "
                             f"{(proc.stderr or proc.stdout).strip()}", path=sig_path)
    return True
