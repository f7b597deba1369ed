"""Which snapshot lockdown protects: the newest folder in ``vault/snapshots/`` that verifies
completely (signature with a pinned key, then every archive and artifact the manifest lists).
Dot-folders are a ritual's unfinished work and never count."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import CheckFailed, IntegrityError, UsageError, VVTVError
from vvtvlib.core.layout import StationLayout
from vvtvlib.guardian.trust import MANIFEST, SIGNATURE, trusted_public_keys
from vvtvlib.vault.folder import verify_snapshot
from vvtvlib.vault.minisign import PublicKey
from vvtvlib.vault.schema import Manifest

_SUFFIX = re.compile(r"^(?P<base>.*?)(?:-(?P<n>\d+))?$")


@dataclass
class VerifiedSnapshot:
    folder: Path
    stamp: str
    key_id: str
    manifest: Manifest
    checked: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)  # newer folders that failed

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "stamp": self.stamp, "key_id": self.key_id,
                "generation": self.manifest.generation, "checked": self.checked,
                "skipped": self.skipped}


def _order(name: str) -> tuple[str, int]:
    m = _SUFFIX.match(name)
    assert m is not None
    return m.group("base"), int(m.group("n") or 1)


def snapshot_candidates(layout: StationLayout) -> list[Path]:
    """Snapshot folders, newest first."""
    if not layout.snapshots.is_dir():
        return []
    folders = [p for p in layout.snapshots.iterdir()
               if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    return sorted(folders, key=lambda p: _order(p.name), reverse=True)


def verify_folder(folder: Path, pubkeys: list[PublicKey]) -> VerifiedSnapshot:
    """Full verification of one snapshot folder against its signed manifest (the vault's
    ``verify_snapshot``: signature with pinned keys, trusted comment, every archive and
    artifact)."""
    if not (folder / MANIFEST).is_file() or not (folder / SIGNATURE).is_file():
        raise IntegrityError(f"{folder.name}: incomplete snapshot (no {MANIFEST} or "
                             f"{SIGNATURE})", path=folder)
    verified = verify_snapshot(folder, pubkeys)
    checked = {"files": len(verified.checked),
               "bytes": sum(c.size for c in verified.checked)}
    return VerifiedSnapshot(folder, verified.manifest.stamp, verified.signature.key_id,
                            verified.manifest, checked)


def newest_verified_snapshot(layout: StationLayout) -> VerifiedSnapshot:
    """The newest snapshot that verifies; refuses (CheckFailed) when none does."""
    candidates = snapshot_candidates(layout)
    if not candidates:
        raise UsageError(f"no snapshot in {layout.snapshots}; run the shutdown ritual "
                         "(vvtvctl ritual) first", path=layout.snapshots)
    pubkeys = trusted_public_keys(layout)
    skipped: list[dict[str, str]] = []
    for folder in candidates:
        try:
            found = verify_folder(folder, pubkeys)
        except VVTVError as exc:
            skipped.append({"folder": folder.name, "reason": exc.message})
            continue
        found.skipped = skipped
        return found
    reasons = "; ".join(f"{s['folder']}: {s['reason']}" for s in skipped)
    raise CheckFailed(f"no snapshot in {layout.snapshots} verifies ({reasons})",
                      path=layout.snapshots, skipped=skipped)
