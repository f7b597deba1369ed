"""Writing beneath a folder without ever following a link: every folder, file and symlink
of a restore is created relative to a descriptor of the staging folder, one path component
at a time with ``O_NOFOLLOW``. A symlink created by any archive of the snapshot (or found
there for any other reason) is never traversed, so no member can land outside the staging
folder whatever the archives contain; modes and times are set on descriptors, not paths.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from vvtvlib.core.errors import UnsafeArchive

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CACHE = 256  # open folder descriptors kept (members come grouped by folder)


class StagingTree:
    """A private staging folder and the descriptors of the folders created in it. Shared by
    every archive of a snapshot restored into one tree; used by one thread at a time."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.fd = os.open(self.root, _DIR_FLAGS)
        self._dirs: dict[str, int] = {}

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> StagingTree:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ folders

    def _refuse(self, parent_fd: int, name: str, prefix: str, member: str,
                archive: Path) -> UnsafeArchive:
        try:
            st = os.lstat(name, dir_fd=parent_fd)
        except OSError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            return UnsafeArchive(f"{archive}: member {member} goes through the symlink "
                                 f"{prefix}", path=archive, member=member)
        return UnsafeArchive(f"{archive}: member {member} goes through {prefix}, which is not "
                             "a folder", path=archive, member=member)

    def folder(self, rel: str, member: str, archive: Path, *, create: bool = True) -> int:
        """The descriptor of folder ``rel`` ("" is the root); missing folders on the way are
        created (0700) when ``create``; a symlink anywhere on the way is refused."""
        if not rel:
            return self.fd
        cached = self._dirs.get(rel)
        if cached is not None:
            return cached
        head, _, name = rel.rpartition("/")
        parent = self.folder(head, member, archive, create=create)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o700, dir_fd=parent)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._refuse(parent, name, rel, member, archive) from None
            raise
        if len(self._dirs) >= _CACHE:
            for old in self._dirs.values():
                os.close(old)
            self._dirs.clear()
            # ``parent`` may just have been closed: reopen the chain for this folder
            os.close(fd)
            return self.folder(rel, member, archive, create=create)
        self._dirs[rel] = fd
        return fd

    def _parent(self, rel: str, archive: Path) -> tuple[int, str]:
        head, _, name = rel.rpartition("/")
        return self.folder(head, rel, archive), name

    def _exists(self, rel: str, archive: Path) -> UnsafeArchive:
        return UnsafeArchive(f"{archive}: member {rel} already exists in the restored tree "
                             "(written by another archive)", path=archive, member=rel)

    # ------------------------------------------------------------------ members

    def mkdir(self, rel: str, archive: Path) -> None:
        """A folder (0700 until ``finish_dir``); one that is already a folder is kept (a
        folder above the roots of two archives)."""
        parent, name = self._parent(rel, archive)
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
        except FileExistsError:
            self.folder(rel, rel, archive)  # a real folder, or refused
        self.folder(rel, rel, archive)

    def create_file(self, rel: str, archive: Path) -> int:
        """A new file (0600, written through the returned descriptor); never an existing
        name, never through a link."""
        parent, name = self._parent(rel, archive)
        try:
            return os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
        except FileExistsError:
            raise self._exists(rel, archive) from None

    def symlink(self, rel: str, target: str, archive: Path) -> None:
        parent, name = self._parent(rel, archive)
        try:
            os.symlink(target, name, dir_fd=parent)
        except FileExistsError:
            raise self._exists(rel, archive) from None

    def finish_dir(self, rel: str, mode: int, mtime: float, archive: Path) -> None:
        fd = self.folder(rel, rel, archive, create=False)
        os.chmod(fd, mode)
        os.utime(fd, (mtime, mtime))

    def exists(self, rel: str) -> bool:
        head, _, name = rel.rpartition("/")
        try:
            parent = self.folder(head, rel, self.root, create=False)
            os.lstat(name, dir_fd=parent)
        except (OSError, UnsafeArchive):
            return False
        return True
