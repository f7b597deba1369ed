"""A sequential reader for the decompressed tar stream: capped in size, headers parsed by the
standard library, member data read without extra copies (into the caller's buffer)."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import UnsafeArchive

from .snapshot import BLOCK


class CappedReader:
    """The decompressed tar stream, cut off once it inflates past the allowed bytes."""

    def __init__(self, inner: Any, limit: int, archive: Path) -> None:
        self.inner, self.limit, self.archive, self.count = inner, limit, archive, 0

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n if n and n > 0 else BLOCK)
        self._count(len(data))
        return data

    def readinto(self, view: memoryview) -> int:
        n = self.inner.readinto(view)
        self._count(n)
        return n

    def _count(self, n: int) -> None:
        self.count += n
        if self.count > self.limit:
            raise UnsafeArchive(f"{self.archive}: decompresses past its limit of {self.limit} "
                                "bytes (size cap or compression ratio)", path=self.archive,
                                expected=self.limit, actual=self.count)


# the zero blocks that end a tar, or the stream simply ending (not in the type stubs)
END_OF_ARCHIVE = (tarfile.EOFHeaderError, tarfile.EmptyHeaderError)  # type: ignore[attr-defined]


class TarStream:
    """A sequential tar reader: headers (ustar, PAX, GNU long names) are parsed by the
    standard library's ``TarInfo.fromtarfile``, for which this object stands in as the
    ``TarFile``; member data is read straight from the decompressed stream, without
    tarfile's buffering copies."""

    encoding = "utf-8"
    errors = "surrogateescape"

    def __init__(self, reader: CappedReader) -> None:
        self._reader = reader
        self.fileobj = self
        self.pax_headers: dict[str, str] = {}
        self.offset = 0  # where the next header starts (set by the header parser)
        self._pos = 0

    def read(self, n: int) -> bytes:
        chunks = []
        got = 0
        while got < n:
            data = self._reader.read(n - got)
            if not data:
                break
            chunks.append(data)
            got += len(data)
        self._pos += got
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def readinto(self, view: memoryview) -> int:
        """Member data straight into the caller's buffer (part of it, or 0 at the end)."""
        n = self._reader.readinto(view)
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def skip_to(self, pos: int) -> None:
        while self._pos < pos:
            if not self.read(min(BLOCK, pos - self._pos)):
                raise EOFError("archive ends inside a member")

    def next(self) -> tarfile.TarInfo | None:
        self.skip_to(self.offset)
        try:
            return tarfile.TarInfo.fromtarfile(self)  # type: ignore[arg-type]
        except END_OF_ARCHIVE:
            return None
