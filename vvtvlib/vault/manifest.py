"""File entries, tree root hashes and ``SHA256SUMS`` files.

A tree is described by one entry per member: path (relative, ``/``-separated, UTF-8), type
(``file``, ``dir`` or ``symlink``), size, mode (permission bits as a 4-digit octal string)
and sha256 (of the content; of the link target for a symlink; none for a folder). The root
hash is the sha256 of the canonical JSON (``core.evidence.canonical``) of the entries sorted
by path, so any added, removed, renamed or changed file changes it.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from vvtvlib.core.errors import IntegrityError, UnsafeArchive
from vvtvlib.core.evidence import canonical
from vvtvlib.core.fsio import atomic_write

_CHUNK = 1 << 20
FILE, DIR, SYMLINK = "file", "dir", "symlink"


def normalise_path(path: str | bytes, *, what: str = "path") -> str:
    """A safe relative ``/`` path, or UnsafeArchive saying why not."""
    if isinstance(path, bytes):
        try:
            path = path.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeArchive(f"{what} {path!r} is not valid UTF-8", path=repr(path)) from None
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeArchive(f"{what} {path!r} is not valid UTF-8", path=repr(path)) from None
    if "\x00" in path:
        raise UnsafeArchive(f"{what} {path!r} contains a NUL byte", path=repr(path))
    if path.startswith("/"):
        raise UnsafeArchive(f"{what} {path} is absolute", path=path)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"{what} {path} contains '..'", path=path)
    if not parts:
        raise UnsafeArchive(f"{what} {path!r} is empty", path=path)
    return "/".join(parts)


@dataclass(frozen=True)
class FileEntry:
    path: str
    type: str
    size: int
    mode: int  # permission bits only
    sha256: str | None
    target: str | None = None  # symlinks only

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "type": self.type, "size": self.size,
                               "mode": f"{self.mode:04o}", "sha256": self.sha256}
        if self.target is not None:
            out["target"] = self.target
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileEntry:
        return cls(data["path"], data["type"], int(data["size"]), int(str(data["mode"]), 8),
                   data.get("sha256"), data.get("target"))


def sha256_file(path: str | Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


def entry_for(root: Path, rel: str, *, hash_files: bool = True) -> FileEntry:
    """Describe one path under ``root`` (never following a symlink)."""
    full = root / rel
    st = os.lstat(full)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        return FileEntry(rel, DIR, 0, mode, None)
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(full)
        return FileEntry(rel, SYMLINK, len(target.encode()), mode,
                         hashlib.sha256(target.encode()).hexdigest(), target)
    if stat.S_ISREG(st.st_mode):
        digest, size = sha256_file(full) if hash_files else (None, st.st_size)
        return FileEntry(rel, FILE, size, mode, digest)
    raise UnsafeArchive(f"{full} is not a regular file, folder or symlink", path=full)


def walk(root: str | Path, selectors: Iterable[str] = (".",),
         exclude: Iterable[str] = ()) -> list[str]:
    """Relative paths (folders included, sorted) under ``root`` for each selector; a
    selector may be a file or a folder. ``exclude`` lists relative paths to leave out."""
    root = Path(root)
    skip = {normalise_path(e, what="excluded path") for e in exclude}
    out: set[str] = set()
    for sel in selectors:
        sel_norm = "" if sel in ("", ".") else normalise_path(sel, what="selector")
        start = root / sel_norm if sel_norm else root
        if not os.path.lexists(start):
            raise IntegrityError(f"{start} does not exist", path=start)
        if sel_norm:
            # the selector's parents are members too, so modes are restored
            parts = sel_norm.split("/")
            out.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if not start.is_dir() or start.is_symlink():
            out.add(sel_norm)
            continue
        if sel_norm:
            out.add(sel_norm)
        for dirpath, dirnames, filenames in os.walk(start):
            rel_dir = os.path.relpath(dirpath, root)
            rel_dir = "" if rel_dir == "." else rel_dir
            kept = []
            for d in dirnames:
                rel = f"{rel_dir}/{d}" if rel_dir else d
                if rel in skip:
                    continue
                out.add(rel)
                if not os.path.islink(os.path.join(dirpath, d)):
                    kept.append(d)
            dirnames[:] = kept
            for f in filenames:
                rel = f"{rel_dir}/{f}" if rel_dir else f
                if rel not in skip:
                    out.add(rel)
    for rel in out:
        normalise_path(rel)
    return sorted(out)


def scan(root: str | Path, selectors: Iterable[str] = (".",), exclude: Iterable[str] = (),
         *, hash_files: bool = True) -> list[FileEntry]:
    root = Path(root)
    return [entry_for(root, rel, hash_files=hash_files) for rel in walk(root, selectors, exclude)]


def root_hash(entries: Iterable[FileEntry]) -> str:
    ordered = sorted((e.to_dict() for e in entries), key=lambda d: d["path"])
    return hashlib.sha256(canonical(ordered)).hexdigest()


def _sums_name(name: str) -> tuple[str, str]:
    # coreutils escapes a backslash or newline in a name and marks the line with a backslash
    if "\\" in name or "\n" in name or "\r" in name:
        return "\\", name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "", name


def sha256sums_text(pairs: Iterable[tuple[str, str]]) -> str:
    """``SHA256SUMS`` lines (``<hex>  <name>``, sorted by name) that ``sha256sum -c`` reads."""
    lines = []
    for name, digest in sorted(pairs):
        mark, escaped = _sums_name(name)
        lines.append(f"{mark}{digest}  {escaped}\n")
    return "".join(lines)


def sums_for_entries(entries: Iterable[FileEntry]) -> list[tuple[str, str]]:
    return [(e.path, e.sha256) for e in entries if e.type == FILE and e.sha256]


def write_sha256sums(path: str | Path, pairs: Iterable[tuple[str, str]]) -> Path:
    path = Path(path)
    atomic_write(path, sha256sums_text(pairs))
    return path


def is_within(rel_link: str, target: str) -> bool:
    """Whether a symlink at ``rel_link`` pointing at ``target`` stays inside the tree."""
    if target.startswith("/"):
        return False
    depth = 0
    for part in (PurePosixPath(rel_link).parent / target).parts:
        if part == "..":
            depth -= 1
        elif part not in ("", "."):
            depth += 1
        if depth < 0:
            return False
    return True
