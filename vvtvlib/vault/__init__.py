"""The vault: minisign-compatible signatures, manifests, tar.zst snapshots and the safe
restorer that M1 writes with and M3 restores from.

    minisign   keys and signatures in the minisign formats (Ed25519, prehashed ``ED``)
    manifest   file entries, tree root hashes, canonical JSON, ``SHA256SUMS``
    schema     the ``vvtv.manifest/1`` model, builder and loader
    sqlite     consistent database copies, schema dump, integrity and table digests
    snapshot   the one-pass tar.zst writer and its per-archive level policy
    background ordered worker threads chained into pipelines (reading, hashing,
               compressing and writing overlap on two cores)
    members    what an archive may hold: the snapshot-wide plan and the per-member check
    beneath    creating files beneath a staging folder without following any link
    tarstream  the capped, sequential tar reader
    swap       staged roots swapped into the target, put back on failure
    restore    archive verification and safe, staged extraction
    trust      the one trust resolver: which pinned keys a verification may use
    folder     a snapshot folder as a whole: file names, listing and "newest" ordering,
               seal, verify, restore
    export     air-gap export to a folder, read back and verified there
    rclone     the same export to an rclone remote
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names load on first use, so ``import vvtvlib.vault.restore`` does not pull in the
# signature and schema modules (and their dependencies) it does not need.
_EXPORTS: dict[str, str] = {
    "ArchiveRecord": "snapshot",
    "ArchiveSpec": "snapshot",
    "CheckedFile": "folder",
    "FINAL_FRAME": "folder",
    "FileEntry": "manifest",
    "MANIFEST": "folder",
    "Manifest": "schema",
    "PublicKey": "minisign",
    "RestoreResult": "restore",
    "SCHEMA": "schema",
    "SIGNATURE": "folder",
    "SUMS": "folder",
    "Sealed": "folder",
    "SecretKey": "minisign",
    "SnapshotPolicy": "snapshot",
    "TrustAnchor": "trust",
    "VerifiedSignature": "minisign",
    "VerifiedSnapshot": "folder",
    "backup_db": "sqlite",
    "build_manifest": "schema",
    "checkpoint_truncate": "sqlite",
    "dump_schema": "sqlite",
    "file_record": "folder",
    "foreign_key_check": "sqlite",
    "generate_keypair": "minisign",
    "integrity_check": "sqlite",
    "is_sealed": "folder",
    "list_snapshots": "folder",
    "load_manifest": "schema",
    "load_public_key": "minisign",
    "load_public_keys": "minisign",
    "load_secret_key": "minisign",
    "newest_snapshot": "folder",
    "newest_verified_snapshot": "folder",
    "normalise_path": "manifest",
    "resolve_station_keys": "trust",
    "resolve_trusted_keys": "trust",
    "restore_archive": "restore",
    "restore_archives": "restore",
    "restore_snapshot": "folder",
    "root_hash": "manifest",
    "scan": "manifest",
    "seal_snapshot": "folder",
    "sha256_file": "manifest",
    "sha256sums_text": "manifest",
    "sign_file": "minisign",
    "signature_line": "minisign",
    "snapshot_databases": "sqlite",
    "snapshot_sort_key": "folder",
    "sums_for_entries": "manifest",
    "table_digests": "sqlite",
    "verify_archive": "restore",
    "verify_bytes": "minisign",
    "verify_file": "minisign",
    "verify_snapshot": "folder",
    "write_archive": "snapshot",
    "write_archives": "snapshot",
    "write_manifest": "schema",
    "write_policy_archive": "snapshot",
    "write_sha256sums": "manifest",
}

__all__ = [
    "ArchiveRecord", "ArchiveSpec", "CheckedFile", "FINAL_FRAME", "FileEntry", "MANIFEST",
    "Manifest", "PublicKey", "RestoreResult", "SCHEMA", "SIGNATURE", "SUMS", "Sealed",
    "SecretKey", "SnapshotPolicy", "TrustAnchor", "VerifiedSignature", "VerifiedSnapshot",
    "backup_db", "build_manifest", "checkpoint_truncate", "dump_schema",
    "file_record", "foreign_key_check", "generate_keypair", "integrity_check", "is_sealed",
    "list_snapshots", "load_manifest", "load_public_key", "load_public_keys",
    "load_secret_key", "newest_snapshot", "newest_verified_snapshot", "normalise_path",
    "resolve_station_keys", "resolve_trusted_keys", "restore_archive", "restore_archives",
    "restore_snapshot", "root_hash", "scan", "seal_snapshot", "sha256_file", "sha256sums_text",
    "sign_file", "signature_line", "snapshot_databases", "snapshot_sort_key",
    "sums_for_entries", "table_digests", "verify_archive", "verify_bytes", "verify_file",
    "verify_snapshot", "write_archive", "write_archives", "write_manifest",
    "write_policy_archive", "write_sha256sums",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vvtvlib.vault' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .folder import (
        FINAL_FRAME,
        MANIFEST,
        SIGNATURE,
        SUMS,
        CheckedFile,
        Sealed,
        VerifiedSnapshot,
        file_record,
        is_sealed,
        list_snapshots,
        newest_snapshot,
        newest_verified_snapshot,
        restore_snapshot,
        seal_snapshot,
        snapshot_sort_key,
        verify_snapshot,
    )
    from .manifest import (
        FileEntry,
        normalise_path,
        root_hash,
        scan,
        sha256_file,
        sha256sums_text,
        sums_for_entries,
        write_sha256sums,
    )
    from .minisign import (
        PublicKey,
        SecretKey,
        VerifiedSignature,
        generate_keypair,
        load_public_key,
        load_public_keys,
        load_secret_key,
        sign_file,
        signature_line,
        verify_bytes,
        verify_file,
    )
    from .restore import RestoreResult, restore_archive, restore_archives, verify_archive
    from .schema import SCHEMA, Manifest, build_manifest, load_manifest, write_manifest
    from .snapshot import (
        ArchiveRecord,
        ArchiveSpec,
        SnapshotPolicy,
        write_archive,
        write_archives,
        write_policy_archive,
    )
    from .sqlite import (
        backup_db,
        checkpoint_truncate,
        dump_schema,
        foreign_key_check,
        integrity_check,
        snapshot_databases,
        table_digests,
    )
    from .trust import TrustAnchor, resolve_station_keys, resolve_trusted_keys
