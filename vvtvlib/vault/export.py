"""Air-gap export: a sealed snapshot folder copied to offline media and read back there.

An export of ``vault/snapshots/<stamp>/`` is the folder ``<destination>/<stamp>/`` holding

* every file of the snapshot folder, byte for byte (archives, manifest, signature,
  ``SHA256SUMS``, final frame...);
* ``evidence_heads/``: the ``<log>.head`` anchors of the station's evidence logs
  (``vault/*.jsonl.head``, sub-folders kept), copied as plain files with their own
  ``SHA256SUMS``, so an offline copy can witness how long each log was at export time;
* ``export.json`` (schema ``vvtv.export/1``): the snapshot's identity (station, stamp,
  generation, manifest sha256) and the size and sha256 of every other file in the export.

Every source file is hashed as it is read and must match the manifest (archives and
artifacts) and ``SHA256SUMS`` before it counts; a file neither lists is carried with the hash
read. On a folder destination (a mounted disk or NAS) the export is written under
``.<stamp>.export-<pid>``, each file fsynced and dropped from the page cache, then every
file is read back and hashed against those expectations, and only then is the folder
renamed to ``<stamp>``: a crash or a bad medium leaves nothing that looks like an export
(and the next run removes the temporary folder of an export whose process is gone).
An existing export of the same snapshot is verified again, never rewritten; an existing
export of another snapshot under that name is refused. Remote destinations (rclone) live in
``vault.rclone`` and use the same plan and record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.errors import CheckFailed, IntegrityError, UsageError
from vvtvlib.core.evidence import canonical
from vvtvlib.core.fsio import atomic_write, fsync_dir

from .folder import MANIFEST, SUMS
from .manifest import normalise_path, sha256sums_text
from .schema import parse_manifest

EXPORT_SCHEMA = "vvtv.export/1"
RECORD = "export.json"
HEADS_DIR = "evidence_heads"
_CHUNK = 1 << 20
# Folders of the vault whose files are not the station's own evidence logs.
_NOT_EVIDENCE = ("snapshots", "rehearsals", "manifests", "history", "keys")

Hook = Callable[[Path], None]


@dataclass(frozen=True)
class ExportFile:
    path: str  # relative to the export folder, ``/``-separated
    size: int
    sha256: str
    listed_in: str  # "manifest", "SHA256SUMS", "both", "heads" or "read"


@dataclass(frozen=True)
class SourceFile:
    rel: str
    path: Path
    size: int | None  # expected, when the manifest says
    sha256: str | None  # expected, when the manifest or SHA256SUMS says
    listed_in: str


@dataclass
class ExportPlan:
    """What an export of one snapshot folder will carry, and what every file must hash to."""

    snapshot: Path
    name: str
    station_id: str
    stamp: str
    generation: int
    manifest_sha256: str
    files: list[SourceFile] = field(default_factory=list)
    heads: list[tuple[str, bytes]] = field(default_factory=list)  # (path under heads, bytes)
    heads_from: Path | None = None

    def identity(self) -> ExportIdentity:
        return ExportIdentity(self.name, self.station_id, self.stamp, self.generation,
                              self.manifest_sha256)


@dataclass(frozen=True)
class ExportIdentity:
    """Which snapshot an export carries."""

    snapshot: str
    station_id: str
    stamp: str
    generation: int
    manifest_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExportResult:
    destination: str
    status: str  # "exported" | "already exported" | "verified"
    files: int
    bytes: int
    heads: list[str]
    identity: ExportIdentity
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, **asdict(self)}


class RecordFile(BaseModel):
    """One file of an export as ``export.json`` lists it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    path: str
    size: int = Field(ge=0)
    sha256: str
    listed_in: str | None = None


class ExportRecord(BaseModel):
    """``export.json`` (schema ``vvtv.export/1``): the snapshot's identity and every other
    file of the export. Read from offline media or a remote, so it is validated; ``to_dict``
    is what is written."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    schema_: Literal["vvtv.export/1"] = Field(alias="schema")
    snapshot: str | None = None
    station_id: str | None = None
    stamp: str | None = None
    generation: int | None = None
    manifest_sha256: str | None = None
    exported_utc: str | None = None
    exported_from: str | None = None
    heads_from: str | None = None
    files: list[RecordFile]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def hashes(self) -> dict[str, str]:
        """path -> sha256 of every file the record lists."""
        return {f.path: f.sha256 for f in self.files}

    def head_names(self) -> list[str]:
        return sorted(f.path for f in self.files
                      if f.path.startswith(HEADS_DIR + "/") and f.path.endswith(".head"))


# ---------------------------------------------------------------- sums and records


def parse_sha256sums(text: str, source: str | Path) -> dict[str, str]:
    """``name -> sha256`` of a ``sha256sum`` file (escaped names and ``*`` binary marks)."""
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        escaped = raw.startswith("\\")
        line = raw[1:] if escaped else raw
        digest, sep, name = line.partition(" ")
        if not sep or len(digest) != 64 or name[:1] not in (" ", "*"):
            raise IntegrityError(f"{source}: line {n} is not a sha256sum line", path=source)
        name = name[1:]
        if escaped:
            name = name.replace("\\\\", "\0").replace("\\n", "\n").replace("\\r", "\r")
            name = name.replace("\0", "\\")
        out[normalise_path(name, what=f"{source} entry")] = digest.lower()
    return out


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _regular_files(folder: Path) -> list[str]:
    out = []
    for dirpath, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in names:
            full = Path(dirpath) / name
            if not stat.S_ISREG(full.lstat().st_mode):
                raise IntegrityError(f"{full} is not a regular file; a snapshot folder holds "
                                     "only files", path=full)
            out.append(full.relative_to(folder).as_posix())
    return sorted(out)


def find_heads(vault: Path) -> list[tuple[str, bytes]]:
    """The ``<log>.head`` anchors of the evidence logs under ``vault`` (read once each)."""
    heads = []
    for path in sorted(vault.rglob("*.jsonl.head")):
        rel = path.relative_to(vault)
        if rel.parts[0] in _NOT_EVIDENCE or not stat.S_ISREG(path.lstat().st_mode):
            continue
        heads.append((rel.as_posix(), path.read_bytes()))
    return heads


def plan_export(snapshot: str | Path, vault: str | Path | None) -> ExportPlan:
    """Read the snapshot's manifest and ``SHA256SUMS`` (no archive is read yet) and the
    evidence heads of ``vault``; ``UsageError`` when ``snapshot`` is not a sealed folder."""
    snapshot = Path(snapshot).absolute()
    if not snapshot.is_dir():
        raise UsageError(f"snapshot folder {snapshot} does not exist", path=snapshot)
    mpath, spath = snapshot / MANIFEST, snapshot / SUMS
    if not mpath.is_file() or not spath.is_file():
        raise UsageError(f"{snapshot} is not a sealed snapshot folder (no {MANIFEST} or "
                         f"{SUMS})", path=snapshot)
    raw = mpath.read_bytes()
    manifest = parse_manifest(raw, mpath)
    sums = parse_sha256sums(spath.read_text(), spath)
    listed: dict[str, tuple[int | None, str]] = {
        **{n: (a.size, a.sha256) for n, a in manifest.archives.items()},
        **{n: (a.size, a.sha256) for n, a in manifest.artifacts.items()}}
    for name, digest in sums.items():
        if name in listed and listed[name][1] != digest:
            raise IntegrityError(f"{spath}: {name} is listed as {digest}, the manifest says "
                                 f"{listed[name][1]}", path=spath, expected=listed[name][1],
                                 actual=digest)
    if sums.get(MANIFEST, sha256_bytes(raw)) != sha256_bytes(raw):
        raise IntegrityError(f"{mpath}: sha256 is {sha256_bytes(raw)}, {SUMS} says "
                             f"{sums[MANIFEST]}", path=mpath, expected=sums[MANIFEST],
                             actual=sha256_bytes(raw))
    present = _regular_files(snapshot)
    missing = sorted((set(listed) | set(sums)) - set(present))
    if missing:
        raise IntegrityError(f"{snapshot}: {missing[0]} is listed but missing"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                             path=snapshot / missing[0])
    plan = ExportPlan(snapshot, snapshot.name, manifest.station_id, manifest.stamp,
                      manifest.generation, sha256_bytes(raw))
    for rel in present:
        if rel in (RECORD, HEADS_DIR) or rel.startswith(HEADS_DIR + "/"):
            raise UsageError(f"{snapshot / rel} collides with the export's own files",
                             path=snapshot / rel)
        in_m, in_s = rel in listed, rel in sums
        how = "both" if in_m and in_s else "manifest" if in_m else SUMS if in_s else "read"
        size = listed[rel][0] if in_m else None
        want = listed[rel][1] if in_m else sums.get(rel)
        plan.files.append(SourceFile(rel, snapshot / rel, size, want, how))
    if vault is not None and Path(vault).is_dir():
        plan.heads_from = Path(vault).absolute()
        plan.heads = find_heads(plan.heads_from)
    return plan


def record_for(plan: ExportPlan, files: list[ExportFile]) -> ExportRecord:
    return ExportRecord.model_validate({
        "schema": EXPORT_SCHEMA, **plan.identity().to_dict(), "exported_utc": utc_iso(),
        "exported_from": socket.gethostname(),
        "heads_from": str(plan.heads_from) if plan.heads_from else None,
        "files": [asdict(f) for f in sorted(files, key=lambda f: f.path)]})


def heads_files(plan: ExportPlan) -> list[tuple[str, bytes]]:
    """(export path, bytes) of the heads and their ``SHA256SUMS``."""
    if not plan.heads:
        return []
    out = [(f"{HEADS_DIR}/{rel}", data) for rel, data in plan.heads]
    sums = sha256sums_text((rel, sha256_bytes(data)) for rel, data in plan.heads)
    return [*out, (f"{HEADS_DIR}/{SUMS}", sums.encode())]


def check_source(src: SourceFile, digest: str, size: int) -> None:
    """The bytes read from the snapshot must be the ones its manifest and sums list."""
    if src.sha256 is not None and digest != src.sha256:
        raise IntegrityError(f"source {src.path}: sha256 is {digest}, the snapshot's "
                             f"{'manifest' if src.listed_in != SUMS else SUMS} says {src.sha256}"
                             "; nothing was exported", path=src.path, expected=src.sha256,
                             actual=digest)
    if src.size is not None and size != src.size:
        raise IntegrityError(f"source {src.path}: size is {size}, the manifest says {src.size}",
                             path=src.path, expected=src.size, actual=size)


def load_record(data: bytes, where: str) -> ExportRecord:
    try:
        return ExportRecord.model_validate(json.loads(data))
    except (ValueError, ValidationError):  # not JSON, or not the record's shape
        raise IntegrityError(f"{where} is not a {EXPORT_SCHEMA} record", path=where) from None


def check_against_record(rec: ExportRecord, found: dict[str, str], where: str) -> int:
    """Every file the record lists is present with its sha256 and nothing else is there
    (``found``: path -> sha256 read back, the record itself excluded); the exported
    manifest hashes to the record's identity. Returns the number of files checked."""
    want = rec.hashes()
    for rel in sorted(want):
        if rel not in found:
            raise IntegrityError(f"{where}: {rel} is missing from the export", path=rel)
        if found[rel] != want[rel]:
            raise IntegrityError(f"{where}: {rel} reads back as sha256 {found[rel]}, it must be "
                                 f"{want[rel]}", path=rel, expected=want[rel], actual=found[rel])
    extra = sorted(set(found) - set(want))
    if extra:
        raise IntegrityError(f"{where}: {extra[0]} is in the export but not in its record",
                             path=extra[0])
    if want.get(MANIFEST) != rec.manifest_sha256:
        raise IntegrityError(f"{where}: the exported manifest is not the one the record names",
                             path=MANIFEST, expected=rec.manifest_sha256,
                             actual=want.get(MANIFEST))
    return len(want)


def check_against_manifest(manifest_bytes: bytes, found: dict[str, str], where: str) -> None:
    """The archives and artifacts read back must also be the ones the (signed) manifest
    lists, so a rewritten record cannot cover for a changed archive."""
    manifest = parse_manifest(manifest_bytes, f"{where}/{MANIFEST}")
    listed = {**{n: a.sha256 for n, a in manifest.archives.items()},
              **{n: a.sha256 for n, a in manifest.artifacts.items()}}
    for name, digest in sorted(listed.items()):
        if found.get(name) != digest:
            raise IntegrityError(f"{where}: {name} reads back as sha256 {found.get(name)}, the "
                                 f"manifest says {digest}", path=name, expected=digest,
                                 actual=found.get(name))


def same_snapshot(rec: ExportRecord, plan: ExportPlan, where: str) -> None:
    if rec.manifest_sha256 != plan.manifest_sha256:
        raise UsageError(
            f"{where} already holds another export ({rec.station_id} generation "
            f"{rec.generation}, stamp {rec.stamp}); refusing to overwrite it",
            path=where, expected=plan.manifest_sha256, actual=rec.manifest_sha256)


# ---------------------------------------------------------------- folder destination


def _drop_cache(fd: int) -> None:
    """Ask the kernel to forget the pages just written, so reading back reads the medium."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def read_back(path: Path) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        _drop_cache(fd)
        while chunk := os.read(fd, _CHUNK):
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()


def _write_new(path: Path, chunks: Any, mode: int) -> tuple[str, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, size = hashlib.sha256(), 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk in chunks:
            h.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
        _drop_cache(fd)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return h.hexdigest(), size


def _file_chunks(path: Path) -> Any:
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def verify_folder(folder: Path) -> tuple[ExportRecord, int, int]:
    """Read every file of an export folder back and check it against ``export.json``.
    Returns the record, the files checked and their bytes."""
    try:
        raw = (folder / RECORD).read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{folder} has no {RECORD}: not a complete export",
                             path=folder) from None
    rec = load_record(raw, str(folder / RECORD))
    found: dict[str, str] = {}
    nbytes = 0
    for rel in _regular_files(folder):
        if rel != RECORD:
            found[rel] = read_back(folder / rel)
            nbytes += (folder / rel).stat().st_size
    files = check_against_record(rec, found, str(folder))
    check_against_manifest((folder / MANIFEST).read_bytes(), found, str(folder))
    return rec, files, nbytes


def export_to_folder(plan: ExportPlan, to: str | Path, *, verify_only: bool = False,
                     before_verify: Hook | None = None) -> ExportResult:
    """Copy ``plan`` into ``<to>/<name>`` (temporary name, fsync, read back, rename), or
    verify the export already there. ``before_verify(tmp_folder)`` runs between the copy and
    the read-back (a test hook)."""
    to = Path(to).absolute()
    if not to.is_dir():
        raise UsageError(f"destination {to} is not a folder (mount the offline medium first)",
                         path=to)
    dest = to / plan.name
    if dest.exists() or dest.is_symlink():
        if not (dest / RECORD).is_file():
            raise UsageError(f"{dest} exists and is not an export; refusing to overwrite it",
                             path=dest)
        same_snapshot(load_record((dest / RECORD).read_bytes(), str(dest / RECORD)), plan,
                      str(dest))
        rec, files, nbytes = verify_folder(dest)
        return ExportResult(str(dest), "verified" if verify_only else "already exported",
                            files, nbytes, rec.head_names(), plan.identity())
    if verify_only:
        raise CheckFailed(f"there is no export of {plan.name} in {to}", path=dest)
    _remove_stale(to, plan.name)
    tmp = to / f".{plan.name}.export-{os.getpid()}"
    tmp.mkdir(mode=0o755)
    try:
        written: list[ExportFile] = []
        for src in plan.files:
            mode = stat.S_IMODE(src.path.stat().st_mode) | 0o400
            digest, size = _write_new(tmp / src.rel, _file_chunks(src.path), mode)
            check_source(src, digest, size)
            written.append(ExportFile(src.rel, size, digest, src.listed_in))
        for rel, data in heads_files(plan):
            digest, size = _write_new(tmp / rel, [data], 0o644)
            written.append(ExportFile(rel, size, digest, "heads"))
        rec = record_for(plan, written)
        atomic_write(tmp / RECORD, canonical(rec.to_dict()) + b"\n")
        for folder in {tmp, *((tmp / f.path).parent for f in written)}:
            fsync_dir(folder)
        if before_verify is not None:
            before_verify(tmp)
        _, files, nbytes = verify_folder(tmp)
        if dest.exists():
            raise UsageError(f"{dest} appeared during the export; refusing to overwrite it",
                             path=dest)
        os.rename(tmp, dest)
        fsync_dir(to)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    warnings = [] if plan.heads else [_no_heads(plan)]
    return ExportResult(str(dest), "exported", files, nbytes,
                        [f"{HEADS_DIR}/{rel}" for rel, _ in plan.heads], plan.identity(),
                        warnings)


def _remove_stale(to: Path, name: str) -> None:
    """Temporary folders of exports of ``name`` whose process is gone (killed mid-copy)."""
    for tmp in to.glob(f".{name}.export-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if not pid.isdigit():
            continue
        if int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                continue  # another export of the same snapshot is running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        shutil.rmtree(tmp, ignore_errors=True)


def _no_heads(plan: ExportPlan) -> str:
    where = plan.heads_from or "the station vault"
    return f"no evidence-log heads found in {where}; the export carries no witness"


__all__ = ["EXPORT_SCHEMA", "HEADS_DIR", "RECORD", "ExportFile", "ExportIdentity",
           "ExportPlan", "ExportRecord", "ExportResult", "RecordFile", "SourceFile",
           "export_to_folder", "find_heads", "parse_sha256sums", "plan_export", "verify_folder"]
