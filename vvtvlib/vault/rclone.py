"""Air-gap export to an rclone remote (B2, S3, SFTP, ``:local:`` ...): the same plan and
``export.json`` record as a folder export, sent with the ``rclone`` command.

Object stores have no rename, so completeness is marked by order instead: the snapshot
files and the evidence heads are sent first and their sha256 read back from the remote
(``rclone hashsum sha256``; with ``--download`` where the backend keeps no sha256, so the
bytes are fetched and hashed here), and ``export.json`` is sent last and checked the same
way. A folder on the remote without ``export.json`` is an interrupted export that a re-run
completes; one whose ``export.json`` names another snapshot is refused.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from vvtvlib.core.errors import CheckFailed, DependencyMissing, IntegrityError, UsageError
from vvtvlib.core.evidence import canonical

from .export import (
    RECORD,
    ExportFile,
    ExportPlan,
    ExportRecord,
    ExportResult,
    check_against_manifest,
    check_against_record,
    check_source,
    heads_files,
    load_record,
    record_for,
    same_snapshot,
    sha256_bytes,
)
from .manifest import sha256_file

_REMOTE = re.compile(r"^:?[\w.\- ]*[\w.\-]:")
_NOT_FOUND = (3, 4)  # rclone: directory not found, file not found
_STAMP = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")  # rclone's log prefix



def is_remote(destination: str) -> bool:
    """``name:path`` or ``:backend:path`` (a local path with a colon: write it ``./a:b``)."""
    return bool(_REMOTE.match(destination)) and not destination.startswith(("/", "."))


def rclone_exe() -> str:
    exe = shutil.which("rclone")
    if exe is None:
        raise DependencyMissing("rclone is not installed; a remote destination needs it "
                                "(apt-get install rclone)")
    return exe


def _run(args: list[str], what: str, *, ok: tuple[int, ...] = (0,)
         ) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([rclone_exe(), *args], capture_output=True, check=False)
    if proc.returncode not in ok:
        lines = [_STAMP.sub("", ln) for ln in proc.stderr.decode(errors="replace").splitlines()
                 if "NOTICE: Config file" not in ln]
        error = UsageError if proc.returncode == 1 else CheckFailed  # 1: usage or config
        raise error(f"{what} failed (rclone exit {proc.returncode}): "
                    f"{' | '.join(lines[-2:]) or 'no output'}", command=" ".join(args))
    return proc


def remote_hashes(dest: str) -> dict[str, str]:
    """path -> sha256 of every file under ``dest`` on the remote, as the remote reads them."""
    out = _parse_hashsum(_run(["hashsum", "sha256", dest], f"hashing {dest}").stdout)
    if any(not re.fullmatch(r"[0-9a-f]{64}", v) for v in out.values()):
        out = _parse_hashsum(_run(["hashsum", "sha256", "--download", dest],
                                  f"hashing {dest} (downloaded)").stdout)
    return out


def _parse_hashsum(text: bytes) -> dict[str, str]:
    out = {}
    for line in text.decode("utf-8", errors="replace").splitlines():
        digest, sep, name = line.partition("  ")
        if sep:
            out[name] = digest.strip().lower()
    return out


def remote_listing(dest: str) -> list[str] | None:
    """Paths of the files under ``dest``, or None when ``dest`` does not exist."""
    proc = _run(["lsjson", "--recursive", "--files-only", dest], f"listing {dest}",
                ok=(0, *_NOT_FOUND))
    if proc.returncode != 0:
        return None
    try:
        return sorted(str(e["Path"]) for e in json.loads(proc.stdout or b"[]"))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckFailed(f"rclone listed {dest} in a form this tool does not read: {exc}",
                          path=dest) from None


def _existing_record(dest: str) -> bytes | None:
    if RECORD not in (remote_listing(dest) or []):
        return None
    return _run(["cat", f"{dest}/{RECORD}"], f"reading {dest}/{RECORD}").stdout


def verify_remote(dest: str) -> tuple[ExportRecord, int, int]:
    raw = _existing_record(dest)
    if raw is None:
        raise IntegrityError(f"{dest} has no {RECORD}: not a complete export", path=dest)
    rec = load_record(raw, f"{dest}/{RECORD}")
    found = remote_hashes(dest)
    if found.pop(RECORD, None) != sha256_bytes(raw):
        raise IntegrityError(f"{dest}/{RECORD} changed while it was being verified", path=dest)
    files = check_against_record(rec, found, dest)
    manifest = _run(["cat", f"{dest}/last_manifest.json"], "reading the exported manifest")
    check_against_manifest(manifest.stdout, found, dest)
    nbytes = sum(f.size for f in rec.files)
    return rec, files, nbytes


def export_to_remote(plan: ExportPlan, remote: str, *, verify_only: bool = False,
                     before_verify: Callable[[str], None] | None = None) -> ExportResult:
    """Send ``plan`` to ``<remote>/<name>`` and read its hashes back; or verify the export
    already there. ``before_verify(dest)`` runs between sending and reading back."""
    rclone_exe()
    dest = f"{remote.rstrip('/')}/{plan.name}"
    raw = _existing_record(dest)
    if raw is not None:
        same_snapshot(load_record(raw, f"{dest}/{RECORD}"), plan, dest)
        rec, files, nbytes = verify_remote(dest)
        heads = sorted(f.path for f in rec.files if f.path.endswith(".head"))
        return ExportResult(dest, "verified" if verify_only else "already exported", files,
                            nbytes, heads, plan.identity())
    if verify_only:
        raise CheckFailed(f"there is no export of {plan.name} at {remote}", path=dest)
    written: list[ExportFile] = []
    for src in plan.files:  # the bytes sent must be the snapshot's own
        digest, size = sha256_file(src.path)
        check_source(src, digest, size)
        written.append(ExportFile(src.rel, size, digest, src.listed_in))
    stray = sorted(set(remote_listing(dest) or []) - {f.path for f in written}
                   - {rel for rel, _ in heads_files(plan)})
    if stray:
        raise UsageError(f"{dest} already holds {stray[0]}, which is not part of this export; "
                         "refusing to overwrite it", path=dest)
    with tempfile.TemporaryDirectory(prefix="vvtv-export-") as tmp:
        extra = Path(tmp) / "extra"
        extra.mkdir()
        for rel, data in heads_files(plan):
            (extra / rel).parent.mkdir(parents=True, exist_ok=True)
            (extra / rel).write_bytes(data)
            written.append(ExportFile(rel, len(data), sha256_bytes(data), "heads"))
        record = canonical(record_for(plan, written).to_dict()) + b"\n"
        (Path(tmp) / RECORD).write_bytes(record)
        _run(["copy", str(plan.snapshot), dest], f"sending {plan.name} to {remote}")
        if any(extra.iterdir()):
            _run(["copy", str(extra), dest], f"sending the evidence heads to {remote}")
        if before_verify is not None:
            before_verify(dest)
        found = remote_hashes(dest)
        found.pop(RECORD, None)
        want = {f.path: f.sha256 for f in written}
        for rel in sorted(want):
            if found.get(rel) != want[rel]:
                raise IntegrityError(f"{dest}: {rel} reads back as sha256 {found.get(rel)}, it "
                                     f"must be {want[rel]}; the export is not complete",
                                     path=rel, expected=want[rel], actual=found.get(rel))
        extra_files = sorted(set(found) - set(want))
        if extra_files:
            raise IntegrityError(f"{dest}: {extra_files[0]} appeared during the export",
                                 path=dest)
        _run(["copyto", str(Path(tmp) / RECORD), f"{dest}/{RECORD}"], f"sending {RECORD}")
    _, files, nbytes = verify_remote(dest)
    heads = [f.path for f in written if f.path.endswith(".head")]
    warnings = [] if plan.heads else ["no evidence-log heads found; the export carries no "
                                      "witness"]
    return ExportResult(dest, "exported", files, nbytes, heads, plan.identity(), warnings)


__all__ = ["export_to_remote", "is_remote", "rclone_exe", "remote_hashes", "verify_remote"]
