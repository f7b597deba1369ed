"""A snapshot folder as a whole: the one model of it (file names, listing and "newest"
ordering), seal it (manifest, signature, ``SHA256SUMS``), verify it against pinned keys only,
and restore every archive from it.

Folder names are the ritual's stamps, ``YYYY-mm-dd_HHMMZ``, with ``-2``, ``-3``... when a
snapshot of that minute already exists. "Newest" is decided by the stamp parsed from the name,
then that suffix (no suffix counts as 1); a name that is not a stamp sorts before every
stamped one (by name). Modification times are never used: copies and restores change them.
Dot-folders are a ritual's unfinished work and symlinks are not snapshots: neither is listed.

Verification order: the signature of ``last_manifest.json`` with a pinned key (the manifest
bytes are read once, and the bytes checked are the bytes parsed), the trusted comment
against the manifest, then the size and sha256 of every archive and artifact. Which keys are
pinned is decided by ``vault.trust.resolve_trusted_keys`` only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import CheckFailed, IntegrityError, SignatureError, UsageError, VVTVError

from .manifest import sha256_file, write_sha256sums
from .minisign import PublicKey, SecretKey, VerifiedSignature, sign_file, verify_bytes
from .restore import (
    DEFAULT_MAX_RATIO,
    Item,
    RestoreResult,
    restore_archives,
    verify_archive,
)
from .schema import ArtifactModel, Manifest, parse_manifest, write_manifest
from .trust import TrustAnchor

MANIFEST = "last_manifest.json"
SIGNATURE = "signature.sig"
SUMS = "SHA256SUMS"
FINAL_FRAME = "final_frame.jpg"

_STAMP_NAME = re.compile(r"^(?P<stamp>\d{4}-\d{2}-\d{2}_\d{4}Z)(?:-(?P<seq>\d+))?$")


# ---------------------------------------------------------------- listing and ordering


def snapshot_sort_key(name: str) -> tuple[int, datetime, int, str]:
    """Order of snapshot folder names, oldest first (module docstring: the rule)."""
    m = _STAMP_NAME.match(name)
    if m is not None:
        try:
            when = datetime.strptime(m.group("stamp"), "%Y-%m-%d_%H%MZ")
        except ValueError:
            pass
        else:
            return 1, when, int(m.group("seq") or 1), name
    return 0, datetime.min, 0, name


def is_sealed(folder: Path) -> bool:
    """Holds both the manifest and its signature (what a committed snapshot holds)."""
    return (folder / MANIFEST).is_file() and (folder / SIGNATURE).is_file()


def list_snapshots(parent: str | Path, *, sealed: bool = False) -> list[Path]:
    """Snapshot folders in ``parent`` (``vault/snapshots/``), **newest first**; with
    ``sealed`` only those holding a manifest and a signature. Missing parent: none."""
    parent = Path(parent)
    if not parent.is_dir():
        return []
    folders = [p for p in parent.iterdir()
               if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
               and (not sealed or is_sealed(p))]
    return sorted(folders, key=lambda p: snapshot_sort_key(p.name), reverse=True)


def newest_snapshot(parent: str | Path, *, sealed: bool = True) -> Path | None:
    """The newest (sealed, by default) snapshot folder in ``parent``, or None."""
    found = list_snapshots(parent, sealed=sealed)
    return found[0] if found else None


# ---------------------------------------------------------------- the verified model


@dataclass(frozen=True)
class CheckedFile:
    name: str
    kind: str  # "manifest", "archive" or "artifact"
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "size": self.size, "sha256": self.sha256}


@dataclass
class VerifiedSnapshot:
    """A snapshot folder whose signature (pinned key) and every file verified."""

    folder: Path
    manifest: Manifest
    signature: VerifiedSignature
    checked: list[CheckedFile] = field(default_factory=list)
    # newer folders that did not verify (``newest_verified_snapshot`` fills it)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def stamp(self) -> str:
        return self.manifest.stamp

    @property
    def generation(self) -> int:
        return self.manifest.generation

    @property
    def key_id(self) -> str:
        return self.signature.key_id

    @property
    def signature_line(self) -> str:
        return self.signature.line

    @property
    def trusted_fields(self) -> dict[str, str]:
        return dict(self.signature.fields)

    @property
    def manifest_sha256(self) -> str:
        return self.checked[0].sha256

    @property
    def checked_bytes(self) -> int:
        return sum(c.size for c in self.checked)

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {"ok": True, "folder": str(self.folder), "station_id": m.station_id,
                "stamp": m.stamp, "generation": m.generation, "key_id": self.key_id,
                "trusted_comment": self.signature.trusted_comment,
                "fields": self.signature.fields, "bytes": self.checked_bytes,
                "files": [c.to_dict() for c in self.checked], "skipped": self.skipped}


def file_record(path: str | Path) -> ArtifactModel:
    """The sha256 and size of an artifact, for the manifest's ``artifacts``."""
    digest, size = sha256_file(path)
    return ArtifactModel(sha256=digest, size=size)


@dataclass(frozen=True)
class Sealed:
    manifest_path: Path
    signature_path: Path
    sums_path: Path
    trusted_comment: str


def seal_snapshot(folder: str | Path, manifest: Manifest | Mapping[str, Any],
                  secret: SecretKey | str | Path) -> Sealed:
    """Write ``last_manifest.json`` (canonical), sign it (trusted comment: station,
    generation, stamp, timestamp, file) and write ``SHA256SUMS`` for the folder."""
    folder = Path(folder)
    if isinstance(manifest, Manifest):
        manifest = manifest.to_dict()
    mpath, spath = folder / MANIFEST, folder / SIGNATURE
    write_manifest(mpath, dict(manifest))
    comment = sign_file(secret, mpath, spath, {"station": manifest["station_id"],
                                               "generation": manifest["generation"],
                                               "stamp": manifest["stamp"]})
    names = [*manifest.get("archives", {}), *manifest.get("artifacts", {}), MANIFEST, SIGNATURE]
    pairs = [(n, sha256_file(folder / n)[0]) for n in names if (folder / n).is_file()]
    sums = write_sha256sums(folder / SUMS, pairs)
    return Sealed(mpath, spath, sums, comment)


def _check_trusted_fields(sig: VerifiedSignature, manifest: Manifest, sig_path: Path) -> None:
    expect = {"station": manifest.station_id, "generation": str(manifest.generation),
              "stamp": manifest.stamp, "file": MANIFEST}
    for key, want in expect.items():
        got = sig.fields.get(key)
        if got is not None and got != want:
            raise SignatureError(f"{sig_path}: trusted comment says {key}:{got}, the manifest "
                                 f"says {want}", path=sig_path, expected=want, actual=got)


def _check_artifact(path: Path, want: Mapping[str, Any]) -> CheckedFile:
    if not path.is_file():
        raise IntegrityError(f"{path}: artifact is missing", path=path)
    size = path.stat().st_size
    if size != want["size"]:
        raise IntegrityError(f"{path}: size is {size} bytes, the manifest says {want['size']}",
                             path=path, expected=want["size"], actual=size)
    digest, _ = sha256_file(path)
    if digest != want["sha256"]:
        raise IntegrityError(f"{path}: sha256 is {digest}, the manifest says {want['sha256']}",
                             path=path, expected=want["sha256"], actual=digest)
    return CheckedFile(path.name, "artifact", size, digest)


def verify_snapshot(folder: str | Path,
                    pubkeys: TrustAnchor | PublicKey | Iterable[PublicKey], *,
                    manifest_path: str | Path | None = None, sig_path: str | Path | None = None,
                    observer: Callable[[CheckedFile, int, int], None] | None = None,
                    ) -> VerifiedSnapshot:
    """Signature with pinned keys only (a ``TrustAnchor`` from ``resolve_trusted_keys``),
    then every archive and artifact; fails closed. ``observer(item, done, total)`` is told
    after each file is checked."""
    folder = Path(folder)
    keys = pubkeys.keys if isinstance(pubkeys, TrustAnchor) else pubkeys
    if not folder.is_dir():
        raise IntegrityError(f"snapshot folder {folder} does not exist", path=folder)
    mpath = Path(manifest_path) if manifest_path else folder / MANIFEST
    spath = Path(sig_path) if sig_path else folder / SIGNATURE
    try:
        raw = mpath.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"manifest {mpath} does not exist", path=mpath) from None
    if not spath.is_file():
        raise SignatureError(f"signature {spath} does not exist", path=spath)
    sig = verify_bytes(keys, raw, spath, name=mpath)
    manifest = parse_manifest(raw, mpath)
    _check_trusted_fields(sig, manifest, spath)
    out = VerifiedSnapshot(folder, manifest, sig,
                           [CheckedFile(mpath.name, "manifest", len(raw),
                                        hashlib.sha256(raw).hexdigest())])
    total = 1 + len(manifest.archives) + len(manifest.artifacts)
    if observer:
        observer(out.checked[0], 1, total)
    for name, rec in sorted(manifest.archives.items()):
        verify_archive(folder / name, rec)
        out.checked.append(CheckedFile(name, "archive", rec.size, rec.sha256))
        if observer:
            observer(out.checked[-1], len(out.checked), total)
    for name, art in sorted(manifest.artifacts.items()):
        out.checked.append(_check_artifact(folder / name, art.model_dump()))
        if observer:
            observer(out.checked[-1], len(out.checked), total)
    return out


def newest_verified_snapshot(parent: str | Path,
                             pubkeys: TrustAnchor | PublicKey | Iterable[PublicKey],
                             ) -> VerifiedSnapshot:
    """The newest snapshot in ``parent`` that verifies completely; newer folders that do not
    are listed in ``skipped`` with the reason. Refuses (``UsageError``) when there is no
    snapshot and (``CheckFailed``) when none verifies."""
    parent = Path(parent)
    candidates = list_snapshots(parent)
    if not candidates:
        raise UsageError(f"no snapshot in {parent}; run the shutdown ritual (vvtvctl ritual) "
                         "first", path=parent)
    keys = list(pubkeys.keys if isinstance(pubkeys, TrustAnchor) else
                [pubkeys] if isinstance(pubkeys, PublicKey) else pubkeys)
    skipped: list[dict[str, str]] = []
    for folder in candidates:
        try:
            found = verify_snapshot(folder, keys)
        except VVTVError as exc:
            skipped.append({"folder": folder.name, "reason": exc.message})
            continue
        found.skipped = skipped
        return found
    reasons = "; ".join(f"{s['folder']}: {s['reason']}" for s in skipped)
    raise CheckFailed(f"no snapshot in {parent} verifies ({reasons})", path=parent,
                      skipped=skipped)


def restore_snapshot(verified: VerifiedSnapshot, dest_root: str | Path, *,
                     archives: Iterable[str] | None = None, max_ratio: float = DEFAULT_MAX_RATIO,
                     observer: Callable[[Any], None] | None = None) -> list[RestoreResult]:
    """Restore the archives of a verified snapshot into ``dest_root`` as one change: each
    archive is hashed again as it is decompressed (a file swapped since it was verified is
    refused), all are staged, and only then are their roots moved into place. Any failure
    leaves the target exactly as it was."""
    names = list(archives) if archives is not None else sorted(verified.manifest.archives)
    items: list[Item] = []
    for name in names:
        rec = verified.manifest.archives.get(name)
        if rec is None:
            raise IntegrityError(f"{verified.folder}: the manifest lists no archive {name}",
                                 path=verified.folder / name)
        items.append((verified.folder / name, rec))
    return restore_archives(items, dest_root, max_ratio=max_ratio, observer=observer)


__all__ = ["FINAL_FRAME", "MANIFEST", "SIGNATURE", "SUMS", "CheckedFile", "Sealed",
           "VerifiedSnapshot", "file_record", "is_sealed", "list_snapshots", "newest_snapshot",
           "newest_verified_snapshot", "restore_snapshot", "seal_snapshot",
           "snapshot_sort_key", "verify_snapshot"]
