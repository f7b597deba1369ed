"""Which snapshot lockdown protects: the newest folder in ``vault/snapshots/`` that verifies
completely (signature with a pinned key, then every archive and artifact the manifest lists).
Listing, "newest" ordering and verification are the vault's (``vault.folder``); the pinned
keys are the vault's one trust resolver's."""

from __future__ import annotations

from pathlib import Path

from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.folder import VerifiedSnapshot, list_snapshots, verify_snapshot
from vvtvlib.vault.folder import newest_verified_snapshot as _newest
from vvtvlib.vault.minisign import PublicKey
from vvtvlib.vault.trust import resolve_station_keys


def verify_folder(folder: Path, pubkeys: list[PublicKey]) -> VerifiedSnapshot:
    """Full verification of one snapshot folder (the vault's ``verify_snapshot``)."""
    return verify_snapshot(folder, pubkeys)


def newest_verified_snapshot(layout: StationLayout) -> VerifiedSnapshot:
    """The newest snapshot that verifies with the station's pinned keys; refuses when none
    does (the vault's ``newest_verified_snapshot``)."""
    if not list_snapshots(layout.snapshots):
        return _newest(layout.snapshots, [])  # refuses: no snapshot (before asking for keys)
    return _newest(layout.snapshots, resolve_station_keys(layout,
                                                          snapshot_dir=layout.snapshots))


__all__ = ["VerifiedSnapshot", "newest_verified_snapshot", "verify_folder"]
