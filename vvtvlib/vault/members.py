"""What an archive may hold: the record a signed manifest gives for it (``Expected``), the
snapshot-wide plan every record must pass before a byte is decompressed (``check_plan``),
and the check every tar member must pass before a byte of it is written (``check_member``).

The plan holds even against whoever holds the signing key: every member lies inside one of
its archive's declared ``roots`` (or is a folder above one), no path is listed by two
archives (folders above roots excepted), no member lies under a symlink of any archive of
the snapshot, and every symlink, resolved component by component against the member's
folder, stays inside the snapshot's roots without passing through another symlink.
"""

from __future__ import annotations

import stat
import tarfile
from collections.abc import Iterable, Mapping, Sequence
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
        # Only the roots the record declares: members outside them are refused.
        roots = list(data.get("roots") or [])
        return cls(name or "archive", data["sha256"], int(data["size"]), by_path, roots)

    @property
    def file_bytes(self) -> int:
        return sum(e.size for e in self.files.values() if e.type == FILE)


def _inside(rel: str, root: str) -> bool:
    return rel == root or rel.startswith(root + "/")


@dataclass(frozen=True)
class Plan:
    """The snapshot-wide facts the extractor enforces for every archive: each archive's
    roots, and every symlink any archive will create (path -> archive name)."""

    roots: dict[str, list[str]]
    links: dict[str, str]

    def all_roots(self) -> list[str]:
        return [r for roots in self.roots.values() for r in roots]


def check_roots(exps: Sequence[tuple[Path, Expected]], reserved: Iterable[str] = ()) -> None:
    """Each archive declares roots; they are safe paths, no two overlap, and none overlaps
    a ``reserved`` path (a tree the restore must never replace)."""
    owner: dict[str, str] = {}
    keep = list(reserved)
    for path, exp in exps:
        if not exp.roots:
            raise UnsafeArchive(f"{path.name}: the manifest declares no roots for this archive",
                                path=path)
        for rel in exp.roots:
            if normalise_path(rel, what=f"{path.name}: archive root") != rel:
                raise UnsafeArchive(f"{path.name}: archive root {rel!r} is not normalised",
                                    path=path)
            for other in keep:
                if _inside(rel, other) or _inside(other, rel):
                    raise UnsafeArchive(f"{path.name}: archive root {rel} overlaps {other}, "
                                        "which a restore never replaces", path=path)
            for other, name in owner.items():
                if _inside(rel, other) or _inside(other, rel):
                    raise IntegrityError(f"{path.name}: archive root {rel} overlaps {other} "
                                         f"of {name}", path=path)
            owner[rel] = path.name


def _resolve_link(rel: str, target: str, links: Mapping[str, str], roots: list[str],
                  where: str, archive: Path, name: str) -> None:
    """A symlink's target, resolved one component at a time against the link's folder:
    never above the tree, never through a symlink (of any archive), and ending inside the
    snapshot's roots. A link to a link is allowed: each one is checked on its own."""
    if target.startswith("/") or not is_within(rel, target):
        raise UnsafeArchive(f"{where} is a symlink leaving the tree ({target})", path=archive,
                            member=rel)
    stack = rel.split("/")[:-1]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        here = "/".join(stack)
        if here in links:
            owner = links[here]
            also = f" ({owner})" if owner != name else ""
            raise UnsafeArchive(f"{where} points through the symlink {here}{also} "
                                f"({target})", path=archive, member=rel)
        if part == "..":
            stack.pop()
        else:
            stack.append(part)
    final = "/".join(stack)
    if not any(_inside(final, r) for r in roots):
        raise UnsafeArchive(f"{where} is a symlink resolving outside the restored roots "
                            f"({target} -> {final or '.'})", path=archive, member=rel)


def check_plan(exps: Sequence[tuple[Path, Expected]], *, reserved: Iterable[str] = ()) -> Plan:
    """Check the records of every archive restored together, as one snapshot."""
    check_roots(exps, reserved)
    links: dict[str, str] = {}
    listed: dict[str, tuple[str, FileEntry]] = {}
    for path, exp in exps:
        for rel in sorted(exp.files):
            entry = exp.files[rel]
            where = f"{path.name}: member {rel}"
            if entry.path != rel or normalise_path(rel, what=f"{path.name}: member") != rel:
                raise UnsafeArchive(f"{where} is not a normalised path", path=path, member=rel)
            if not any(_inside(rel, r) for r in exp.roots) and not (
                    entry.type == DIR and any(_inside(r, rel) for r in exp.roots)):
                raise UnsafeArchive(f"{where} is outside the archive's roots "
                                    f"({', '.join(exp.roots)})", path=path, member=rel)
            if entry.mode & (stat.S_ISUID | stat.S_ISGID):
                raise UnsafeArchive(f"{where} has the setuid/setgid bit (mode "
                                    f"{entry.mode:04o})", path=path, member=rel)
            seen = listed.get(rel)
            if seen is not None:
                other, first = seen
                if not (first.type == DIR and entry.type == DIR):
                    raise UnsafeArchive(f"{where} is also listed by {other}", path=path,
                                        member=rel)
                if first.mode != entry.mode:
                    raise IntegrityError(f"{where} has mode {entry.mode:04o}, {other} lists "
                                         f"it with {first.mode:04o}", path=path, member=rel)
            listed[rel] = (path.name, entry)
            if entry.type == SYMLINK:
                links[rel] = path.name
    plan = Plan({p.name: list(e.roots) for p, e in exps}, links)
    roots = plan.all_roots()
    for path, exp in exps:
        for rel in sorted(exp.files):
            entry = exp.files[rel]
            if entry.type == SYMLINK:
                _resolve_link(rel, entry.target or "", links, roots,
                              f"{path.name}: member {rel}", path, path.name)
    for path, exp in exps:
        for rel in sorted(exp.files):
            parts = rel.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                owner = links.get(parent)
                if owner is not None:
                    also = f" ({owner})" if owner != path.name else ""
                    raise UnsafeArchive(f"{path.name}: member {rel} goes through the symlink "
                                        f"{parent}{also}", path=path, member=rel)
    return plan


def check_member(m: tarfile.TarInfo, exp: Expected, seen: set[str], archive: Path,
                 ) -> tuple[str, FileEntry]:
    """One tar member against its (plan-checked) record: listed, same type, size, mode and
    link target; no hard links, devices, FIFOs or setuid/setgid bits."""
    try:
        rel = normalise_path(m.name, what="member")
    except UnsafeArchive as exc:
        raise UnsafeArchive(f"{archive}: {exc.message}", path=archive, member=m.name) from None
    where = f"{archive}: member {rel}"
    if rel in seen:
        raise UnsafeArchive(f"{where} appears twice (duplicate name)", path=archive, member=rel)
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
    elif m.mode & 0o7777 != entry.mode:
        # The restored mode is the signed one: a tar header that says otherwise is refused.
        raise IntegrityError(f"{where} has mode {m.mode & 0o7777:04o}, the manifest says "
                             f"{entry.mode:04o}", path=archive, expected=f"{entry.mode:04o}",
                             actual=f"{m.mode & 0o7777:04o}", member=rel)
    if kind == FILE and m.size != entry.size:
        raise IntegrityError(f"{where} is {m.size} bytes, the manifest says {entry.size}",
                             path=archive, expected=entry.size, actual=m.size, member=rel)
    return rel, entry
