"""Verify: the manifest's signature against a pinned key, then every archive and artifact.

Which keys are pinned is the vault's one trust resolver's decision (``vault.trust``):
``--pubkey`` (a ``.pub`` file or a folder of them), else the target's
``vault/keys/trusted/`` (else its own foundation public key, if it has one); never a key that
lies inside the snapshot folder being verified, which an attacker who can write the snapshot
could have replaced along with the signature. The folder check itself is the vault's
``verify_snapshot``; its result, the vault's ``VerifiedSnapshot``, is what the later phases use.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vvtvlib.core.errors import SignatureError
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.folder import VerifiedSnapshot, verify_snapshot
from vvtvlib.vault.trust import TrustAnchor, resolve_station_keys


def trust_for(pubkey: Path | None, target: Path, snapshots: Path) -> TrustAnchor:
    """The pinned keys for reviving ``snapshots`` into ``target`` (``UntrustedKey`` if none)."""
    return resolve_station_keys(StationLayout.at(target), pubkey=pubkey, snapshot_dir=snapshots)


def verify(snapshots: Path, manifest_path: Path, sig_path: Path, anchor: TrustAnchor
           ) -> VerifiedSnapshot:
    """The vault's folder verification (signature with the pinned keys on the very bytes
    parsed, trusted comment against the manifest, then every archive and artifact)."""
    return verify_snapshot(snapshots, anchor, manifest_path=manifest_path, sig_path=sig_path)


def minisign_cross_check(manifest_path: Path, sig_path: Path, anchor: TrustAnchor,
                         key_id: str) -> bool | None:
    """Ask the standard ``minisign -V`` too, when installed (None when it is not)."""
    exe = shutil.which("minisign")
    if exe is None:
        return None
    key = anchor.key(key_id)
    proc = subprocess.run([exe, "-V", "-q", "-P", key.to_base64(), "-m", str(manifest_path),
                           "-x", str(sig_path)], capture_output=True, text=True, timeout=30,
                          check=False)
    if proc.returncode != 0:
        raise SignatureError(f"minisign -V refused {sig_path}: "
                             f"{(proc.stderr or proc.stdout).strip()}", path=sig_path)
    return True


__all__ = ["TrustAnchor", "VerifiedSnapshot", "minisign_cross_check", "trust_for", "verify"]
