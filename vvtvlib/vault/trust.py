"""The one trust resolver: which public keys a verification may use.

Every verification of a snapshot (``logline verify``, ``logline revive``, the ritual's own
check before sealing, the guardian and lockdown/resume) asks ``resolve_trusted_keys`` and
nothing else. The rule (SPEC section 4, trust anchor):

1. ``--pubkey`` (a ``.pub`` file or a folder of them) when given, and then only that;
2. otherwise the station's pinned keys: every ``*.pub`` in ``vault/keys/trusted/``;
3. only when that folder holds none, the station's own ``vault/keys/foundation_ed25519.pub``
   (when the caller names it): a station that has pinned keys has said which ones it trusts.

A key file that lies inside the snapshot folder being verified (symlinks resolved) is never a
trust anchor: whoever can write the snapshot can replace such a key along with the signature.
It is refused, not skipped, wherever it comes from (``--pubkey`` or the trusted folder). No
key at all is refused too. Both refusals raise ``UntrustedKey`` (a ``SignatureError``, exit 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import UntrustedKey
from vvtvlib.core.layout import StationLayout

from .minisign import PublicKey, load_public_key

PUBKEY_SOURCE = "--pubkey"
PINNED_SOURCE = "pinned keys"


@dataclass(frozen=True)
class TrustAnchor:
    """The keys a verification may use, and where they came from."""

    keys: tuple[PublicKey, ...]
    source: str  # PUBKEY_SOURCE or PINNED_SOURCE
    path: Path  # the --pubkey path, or the trusted-keys folder
    files: tuple[Path, ...] = ()

    @property
    def key_ids(self) -> list[str]:
        return [k.id_hex for k in self.keys]

    def key(self, key_id: str) -> PublicKey:
        for k in self.keys:
            if k.id_hex == key_id:
                return k
        raise UntrustedKey(f"key {key_id} is not among the pinned keys ({', '.join(self.key_ids)})",
                           expected=self.key_ids, actual=key_id)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "path": str(self.path), "key_ids": self.key_ids,
                "files": [str(f) for f in self.files]}


def lies_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or below it, after resolving symlinks."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def _refuse_inside(path: Path, snapshot_dir: Path | None) -> None:
    if snapshot_dir is not None and lies_inside(path, snapshot_dir):
        raise UntrustedKey(
            f"{path} lies inside the snapshot folder being verified ({snapshot_dir}); a key "
            "shipped with a snapshot is not a trust anchor: pin the foundation key from your "
            "own records with --pubkey or in vault/keys/trusted/", path=path)


def _key_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pub")) if folder.is_dir() else []


def resolve_trusted_keys(pubkey: Path | None, trusted_dir: Path | None,
                         snapshot_dir: Path | None, *, station_key: Path | None = None,
                         ) -> TrustAnchor:
    """The pinned keys to verify ``snapshot_dir`` with (module docstring: the rule).

    ``pubkey``: the operator's ``--pubkey`` (file or folder), or None; ``trusted_dir``: the
    station's ``vault/keys/trusted/``; ``station_key``: the station's own foundation public
    key, used only when ``trusted_dir`` holds no key (optional); ``snapshot_dir``: the folder
    being verified (None when a single file is). Raises ``UntrustedKey`` when no key is
    pinned or a key lies inside ``snapshot_dir``."""
    if pubkey is not None:
        pubkey = Path(pubkey)
        _refuse_inside(pubkey, snapshot_dir)
        if not pubkey.exists():
            raise UntrustedKey(f"--pubkey {pubkey} does not exist", path=pubkey)
        files = _key_files(pubkey) if pubkey.is_dir() else [pubkey]
        if not files:
            raise UntrustedKey(f"--pubkey {pubkey}: no *.pub key in this folder", path=pubkey)
        source, where = PUBKEY_SOURCE, pubkey
    else:
        files = _key_files(trusted_dir) if trusted_dir is not None else []
        if not files and station_key is not None and station_key.is_file():
            files = [station_key]
        if not files:
            where_text = f" in {trusted_dir}" if trusted_dir is not None else ""
            raise UntrustedKey(f"no trusted public key: pass --pubkey, or pin the foundation "
                               f"public key{where_text}", path=trusted_dir)
        source, where = PINNED_SOURCE, trusted_dir or files[0]
    found: dict[bytes, PublicKey] = {}
    for path in files:
        _refuse_inside(path, snapshot_dir)
        key = load_public_key(path)
        found.setdefault(key.key_id, key)
    return TrustAnchor(tuple(found.values()), source, where, tuple(files))


def resolve_station_keys(layout: StationLayout, *, pubkey: Path | None = None,
                         snapshot_dir: Path | None = None) -> TrustAnchor:
    """``resolve_trusted_keys`` for a station root: its ``vault/keys/trusted/`` (else its own
    foundation public key) are the pinned keys when no ``pubkey`` is given."""
    return resolve_trusted_keys(pubkey, layout.trusted_keys, snapshot_dir,
                                station_key=layout.foundation_pub)


__all__ = ["PINNED_SOURCE", "PUBKEY_SOURCE", "TrustAnchor", "lies_inside",
           "resolve_station_keys", "resolve_trusted_keys"]
