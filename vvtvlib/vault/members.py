"""What an archive may hold: the record a signed manifest gives for it (``Expected``) and
the check every tar member must pass before a byte of it is written."""

from __future__ import annotations

import stat
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import IntegrityError, UnsafeArchive

from .manifest import DIR, FILE, SYMLINK, FileEntry, is_within, normalise_path
from .schema import ArchiveModel
from .snapshot import ArchiveRecord


@dataclass(frozen=True)
class Expected:
    """What a signed record says an archive holds."""

    name: str
    sha256: str
    size: int
    files: dict[str, FileEntry]
    roots: list[str]

    @classmethod
    def of(cls, record: ArchiveRecord | ArchiveModel | Mapping[str, Any],
           name: str | None = None) -> Expected:
        if isinstance(record, ArchiveRecord):
            files = record.files
            data: Mapping[str, Any] = {"sha256": record.sha256, "size": record.size,
                                       "roots": record.roots}
            name = name or record.name
        else:
            data = record.model_dump() if isinstance(record, ArchiveModel) else record
            files = [FileEntry.from_dict(f) for f in data["files"]]
        by_path = {e.path: e for e in files}
        roots = list(data.get("roots") or sorted({p.split("/")[0] for p in by_path}))
        return cls(name or "archive", data["sha256"], int(data["size"]), by_path, roots)

    @property
    def file_bytes(self) -> int:
        return sum(e.size for e in self.files.values() if e.type == FILE)


def check_member(m: tarfile.TarInfo, exp: Expected, seen: set[str], links: set[str],
                  archive: Path) -> tuple[str, FileEntry]:
    try:
        rel = normalise_path(m.name, what="member")
    except UnsafeArchive as exc:
        raise UnsafeArchive(f"{archive}: {exc.message}", path=archive, member=m.name) from None
    where = f"{archive}: member {rel}"
    if rel in seen:
        raise UnsafeArchive(f"{where} appears twice (duplicate name)", path=archive, member=rel)
    parts = rel.split("/")
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent in links:
            raise UnsafeArchive(f"{where} goes through the symlink {parent}", path=archive,
                                member=rel)
    if m.islnk():
        raise UnsafeArchive(f"{where} is a hard link (not allowed)", path=archive, member=rel)
    if m.ischr() or m.isblk():
        raise UnsafeArchive(f"{where} is a device (not allowed)", path=archive, member=rel)
    if m.isfifo():
        raise UnsafeArchive(f"{where} is a FIFO (not allowed)", path=archive, member=rel)
    if m.mode & (stat.S_ISUID | stat.S_ISGID):
        raise UnsafeArchive(f"{where} has the setuid/setgid bit (mode {m.mode:04o})",
                            path=archive, member=rel)
    kind = DIR if m.isdir() else SYMLINK if m.issym() else FILE if m.isreg() else None
    if kind is None or m.issparse():
        raise UnsafeArchive(f"{where} has an unsupported type {m.type!r}", path=archive,
                            member=rel)
    entry = exp.files.get(rel)
    if entry is None:
        raise UnsafeArchive(f"{where} is not listed in the manifest", path=archive, member=rel)
    if entry.type != kind:
        raise IntegrityError(f"{where} is a {kind}, the manifest says {entry.type}",
                             path=archive, expected=entry.type, actual=kind, member=rel)
    if kind == SYMLINK:
        if m.linkname != entry.target:
            raise IntegrityError(f"{where} points to {m.linkname!r}, the manifest says "
                                 f"{entry.target!r}", path=archive, member=rel)
        if not is_within(rel, m.linkname):
            raise UnsafeArchive(f"{where} is a symlink leaving the tree ({m.linkname})",
                                path=archive, member=rel)
    if kind == FILE and m.size != entry.size:
        raise IntegrityError(f"{where} is {m.size} bytes, the manifest says {entry.size}",
                             path=archive, expected=entry.size, actual=m.size, member=rel)
    return rel, entry
