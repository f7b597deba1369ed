"""Immutability: the Linux inode flag (what ``chattr +i`` sets) and the read-only fallback.

The flag is read and set with the ``FS_IOC_GETFLAGS``/``FS_IOC_SETFLAGS`` ioctls, so no
``chattr`` binary is needed; setting it needs ``CAP_LINUX_IMMUTABLE`` (root) and a filesystem
that supports it (ext4, xfs, btrfs; not tmpfs or overlayfs on older kernels). Where it cannot
be set, write permission bits are removed instead and the caller records which was applied.
The kernel copies an ``int`` for these ioctls whatever their declared size, so 4 bytes suffice.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct
from pathlib import Path

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x00000010

_UNSUPPORTED = {errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}
_NOT_ALLOWED = {errno.EPERM, errno.EACCES, errno.EROFS}
WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def _open_for_ioctl(path: Path) -> int:
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    noatime = getattr(os, "O_NOATIME", 0)
    try:
        return os.open(path, flags | noatime)
    except PermissionError:
        if not noatime:
            raise
        return os.open(path, flags)  # O_NOATIME needs ownership or CAP_FOWNER


def get_flags(path: str | Path, *, known_not_link: bool = False) -> int | None:
    """The inode flags, or None where the filesystem (or file type) has none."""
    path = Path(path)
    if not known_not_link and path.is_symlink():
        return None
    try:
        fd = _open_for_ioctl(path)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ELOOP):
            return None
        raise
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
        return int(struct.unpack_from("i", buf)[0])
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return None
        raise
    finally:
        os.close(fd)


def is_immutable(path: str | Path, *, known_not_link: bool = False) -> bool | None:
    flags = get_flags(path, known_not_link=known_not_link)
    return None if flags is None else bool(flags & FS_IMMUTABLE_FL)


def set_immutable(path: str | Path, on: bool) -> bool:
    """Set or clear the flag; False when the filesystem or the caller's privileges do not
    allow it (the caller then falls back to read-only modes)."""
    path = Path(path)
    flags = get_flags(path)
    if flags is None:
        return False
    wanted = (flags | FS_IMMUTABLE_FL) if on else (flags & ~FS_IMMUTABLE_FL)
    if wanted == flags:
        return True
    fd = _open_for_ioctl(path)
    try:
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", wanted))
    except OSError as exc:
        if exc.errno in _UNSUPPORTED | _NOT_ALLOWED:
            return False
        raise
    finally:
        os.close(fd)
    return True


def flags_supported(folder: str | Path) -> bool:
    """Whether the immutable flag can be set and cleared on this folder's filesystem by us:
    tried on a scratch file, never on the data itself."""
    folder = Path(folder)
    probe = folder / f".immutability-probe.{os.getpid()}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        ok = set_immutable(probe, True) and is_immutable(probe) is True
        return ok
    finally:
        set_immutable(probe, False)
        probe.unlink()


def make_readonly(path: str | Path) -> int:
    """Remove write bits; return the mode before (resume restores it)."""
    path = Path(path)
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISLNK(st.st_mode) and mode & WRITE_BITS:
        os.chmod(path, mode & ~WRITE_BITS)
    return mode
