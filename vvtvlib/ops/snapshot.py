"""``vvtvctl snapshot quick``: a light signed diagnostic snapshot through the vault.

The bundle of scope ``all`` (redacted, with its SHA-256 manifest) is written to
``vault/diagnostics/quick-<stamp>/diagnostic.tar.zst`` and signed with the station's
foundation key (minisign, the vault's format); the signature is verified against the
station's public key before the command returns. Nothing is stopped or frozen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, stamp
from vvtvlib.core.errors import DependencyMissing
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.minisign import load_public_key, sign_file, verify_file

from .bundle import make_bundle


@dataclass
class QuickSnapshot:
    folder: str
    archive: str
    signature: str
    sha256: str
    key_id: str
    trusted_comment: str
    members: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quick_snapshot(root: str | Path | None, *, status: dict[str, Any],
                   clock: Clock = SYSTEM_CLOCK) -> QuickSnapshot:
    lay = StationLayout.at(root)
    if not lay.foundation_key.exists():
        raise DependencyMissing(f"no signing key at {lay.foundation_key} (a provisioned "
                                "station has one)", path=lay.foundation_key)
    folder = lay.vault / "diagnostics" / f"quick-{stamp(clock.now())}"
    n = 1
    while folder.exists():
        n += 1
        folder = folder.with_name(f"quick-{stamp(clock.now())}-{n}")
    folder.mkdir(parents=True)
    archive = folder / "diagnostic.tar.zst"
    b = make_bundle(lay.root, "all", status=status, out=archive, clock=clock)
    sig = folder / "diagnostic.tar.zst.minisig"
    comment = sign_file(lay.foundation_key, archive, sig,
                        {"kind": "quick-diagnostic", "sha256": b.sha256},
                        untrusted="vvtv quick diagnostic snapshot")
    verified = verify_file(load_public_key(lay.foundation_pub), archive, sig)
    return QuickSnapshot(str(folder), str(archive), str(sig), b.sha256,
                         verified.key_id,
                         comment, len(b.members))
