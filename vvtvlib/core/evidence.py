"""Append-only, hash-chained JSONL evidence logs shared by every epic.

Each line is a JSON object whose ``prev_sha256`` is the hex sha256 of the previous line's
bytes (without its newline); the first line chains from 64 zeros. ``seq`` counts lines from 1,
and ``entry_sha256`` seals the line's own content (the canonical JSON without that field), so
an edited line is named itself, not only by the line after it.
Appends take an exclusive ``flock`` and read the tail under it, so writers in several
processes never interleave or fork the chain. A ``<file>.head`` anchor (line count, last line
hash and file size, replaced atomically under the same lock) lets ``verify`` detect a log that
was cut back to an earlier, still well-chained, length, and lets every append check first,
cheaply (size and last line only), that the file still ends where its head says: a log that
was truncated, deleted, extended behind the writer's back, or that lost its head is refused
with :class:`EvidenceTampered` instead of being silently re-anchored.

What an unkeyed chain proves: edits, removals, reordering and truncation relative to a head.
It cannot stop someone with write access who rewrites the whole file and its head
consistently; a head kept elsewhere (the witness: ``verify_prefix``) catches that.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clock import SYSTEM_CLOCK, Clock, utc_iso
from .errors import IntegrityError, UsageError
from .fsio import atomic_write

GENESIS = "0" * 64
_TAIL_CHUNK = 64 * 1024
_SHA_RE = re.compile(r"[0-9a-f]{64}")


class EvidenceTampered(IntegrityError):
    """An evidence log or its head anchor no longer is what its writer left: truncated,
    deleted, extended behind the writer's back, unreadable, or without its anchor."""


def head_path_of(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".head")


@dataclass(frozen=True)
class Head:
    """Where a log ended after its last append: line count, that line's hash, file size."""

    lines: int
    last_sha256: str
    size: int | None = None  # absent in anchors written before sizes were recorded

    @property
    def token(self) -> str:
        """``SEQ:SHA256``, the form ``vvtvctl evidence verify --since`` takes inline."""
        return f"{self.lines}:{self.last_sha256}"

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {"lines": self.lines, "last_sha256": self.last_sha256}
        if self.size is not None:
            body["size"] = self.size
        return canonical(body) + b"\n"


def _head_from(data: Any) -> Head | None:
    if not isinstance(data, dict):
        return None
    lines, sha, size = data.get("lines"), data.get("last_sha256"), data.get("size")
    if (not isinstance(lines, int) or isinstance(lines, bool) or lines < 0
            or not isinstance(sha, str) or not _SHA_RE.fullmatch(sha)
            or (size is not None and (not isinstance(size, int) or size < 0))):
        return None
    return Head(lines, sha, size)


def read_head(head_path: str | Path) -> Head | None:
    """The anchor in ``head_path``; None when there is none. Anything unreadable (a folder,
    empty, not UTF-8, not the anchor's JSON) is :class:`EvidenceTampered` naming the file."""
    head_path = Path(head_path)
    try:
        raw = head_path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise EvidenceTampered(f"head anchor {head_path} is a folder, not a file",
                               path=head_path) from None
    except OSError as exc:
        raise EvidenceTampered(f"head anchor {head_path} cannot be read: "
                               f"{exc.strerror or exc}", path=head_path) from None
    if not raw.strip():
        raise EvidenceTampered(f"head anchor {head_path} is empty", path=head_path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EvidenceTampered(f"head anchor {head_path} is not UTF-8 text",
                               path=head_path) from None
    try:
        head = _head_from(json.loads(text))
    except ValueError:
        head = None
    if head is None:
        raise EvidenceTampered(f"head anchor {head_path} is malformed (expected "
                               '{"lines": N, "last_sha256": HEX, "size": BYTES})', path=head_path)
    return head


def parse_head(spec: str) -> Head:
    """A witness head: the path of a ``.head`` file, or ``SEQ:SHA256`` inline."""
    m = re.fullmatch(r"\s*(\d+):([0-9a-fA-F]{64})\s*", spec)
    if m:
        return Head(int(m.group(1)), m.group(2).lower())
    path = Path(spec)
    if path.exists() or path.is_symlink():
        head = read_head(path)
        if head is None:  # removed between the two looks
            raise EvidenceTampered(f"head anchor {path} disappeared", path=path)
        return head
    raise UsageError(f"--since {spec!r} is neither a head file nor SEQ:SHA256 "
                     "(a line number, a colon and 64 hex digits)")


def _parse_line(raw: bytes, path: Path, lineno: int) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        raise EvidenceTampered(f"evidence log {path} line {lineno} is not valid JSON "
                               "(torn or edited)", path=path, line=lineno) from None
    if not isinstance(obj, dict):
        raise EvidenceTampered(f"evidence log {path} line {lineno} is not a JSON object",
                               path=path, line=lineno)
    return obj


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def _last_line(fd: int) -> bytes | None:
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    pos = size
    buf = b""
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        stripped = buf.rstrip(b"\n")
        idx = stripped.rfind(b"\n")
        if idx >= 0:
            return stripped[idx + 1:]
    return buf.rstrip(b"\n")


def writable_text(text: str) -> str:
    """``text`` unchanged when it encodes as UTF-8; else (a file name that is not UTF-8,
    carried as surrogate escapes) with the undecodable bytes shown as ``\\xNN``, so no record
    can make a line unwritable."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _writable(obj: Any) -> Any:
    if isinstance(obj, str):
        return writable_text(obj)
    if isinstance(obj, dict):
        return {writable_text(k) if isinstance(k, str) else k: _writable(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_writable(v) for v in obj]
    return obj


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class EvidenceLog:
    """One evidence log file. ``append`` is safe across threads and processes."""

    def __init__(self, path: str | Path, *, clock: Clock = SYSTEM_CLOCK, mode: int = 0o600):
        self.path = Path(path)
        self.head_path = head_path_of(self.path)
        self.clock = clock
        self.mode = mode
        self._written: Head | None = None  # the head this writer last wrote

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append one line. Under the lock, first check that the file still ends where its
        head anchor says (size and last line: cheap, whatever the log's length); refuse with
        :class:`EvidenceTampered` otherwise, never re-anchor over lost evidence."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open_for_append()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = self._check_tail(fd)
            prev_seq = last["seq"] if last else 0
            prev_sha = last["_sha"] if last else GENESIS
            entry = {**_writable(record), "seq": prev_seq + 1, "ts": utc_iso(self.clock.now()),
                     "prev_sha256": prev_sha}
            entry.pop("entry_sha256", None)
            entry["entry_sha256"] = hashlib.sha256(canonical(entry)).hexdigest()
            line = canonical(entry)
            os.write(fd, line + b"\n")
            os.fsync(fd)
            head = Head(entry["seq"], line_hash(line), os.fstat(fd).st_size)
            # Durable: an append refuses a log that runs past its anchor, so the anchor
            # must not fall behind its fsynced line on a power loss.
            atomic_write(self.head_path, head.to_bytes(), mode=self.mode, durable=True)
            self._written = head
            return entry
        finally:
            os.close(fd)

    def append_many(self, records: list[dict[str, Any]], *, keep_ts: bool = False
                    ) -> list[dict[str, Any]]:
        """Append several lines under one lock, one ``fsync`` and one head anchor write (the
        same checks as :meth:`append`): how a busy writer batches without weakening the
        chain. With ``keep_ts`` a record's own ``ts`` (when it has one) is kept."""
        if not records:
            return []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open_for_append()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = self._check_tail(fd)
            seq = last["seq"] if last else 0
            prev = last["_sha"] if last else GENESIS
            now = utc_iso(self.clock.now())
            out, lines = [], []
            for record in records:
                seq += 1
                ts = record.get("ts") if keep_ts and isinstance(record.get("ts"), str) else now
                entry = {**_writable(record), "seq": seq, "ts": ts, "prev_sha256": prev}
                entry.pop("entry_sha256", None)
                entry["entry_sha256"] = hashlib.sha256(canonical(entry)).hexdigest()
                line = canonical(entry)
                prev = line_hash(line)
                lines.append(line)
                out.append(entry)
            data = memoryview(b"\n".join(lines) + b"\n")
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
            head = Head(seq, prev, os.fstat(fd).st_size)
            atomic_write(self.head_path, head.to_bytes(), mode=self.mode, durable=True)
            self._written = head
            return out
        finally:
            os.close(fd)

    def _open_for_append(self) -> int:
        """Open the log; create it only when nothing says it existed (no head, and this
        writer never appended), so a deleted log is refused rather than started afresh."""
        flags = os.O_RDWR | os.O_APPEND
        try:
            return os.open(self.path, flags)
        except FileNotFoundError:
            head = self.head()
            if head is None and self._written is None:
                return os.open(self.path, flags | os.O_CREAT, self.mode)
        try:  # another writer may have created it since the first look
            return os.open(self.path, flags)
        except FileNotFoundError:
            raise self._deleted(head) from None

    def _deleted(self, head: Head | None) -> EvidenceTampered:
        known = head or self._written
        lines = known.lines if known else 0
        return EvidenceTampered(f"evidence log {self.path} was deleted: its head anchor records "
                                f"{lines} line(s)", path=self.path, expected=lines, actual=0)

    def head(self) -> Head | None:
        return read_head(self.head_path)

    def check(self) -> Head | None:
        """The append pre-check without appending (under a shared lock): the current head,
        or :class:`EvidenceTampered`. A log that does not exist and has no head is fine."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            head = self.head()
            if (head is not None and head.lines > 0) or self._written is not None:
                raise self._deleted(head) from None
            return head
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            self._check_tail(fd)
            return self.head()
        finally:
            os.close(fd)

    def _check_tail(self, fd: int) -> dict[str, Any] | None:
        """The last entry (with its line hash as ``_sha``), after checking the file against
        its head anchor; None for a new, empty log."""
        size = os.fstat(fd).st_size
        head = self.head()
        p = self.path
        if self._written is not None and (head is None or head.lines < self._written.lines):
            found = "no head anchor" if head is None else f"a head at line {head.lines}"
            raise EvidenceTampered(
                f"evidence log {p} went back since this writer appended line "
                f"{self._written.lines}: now {size} bytes and {found}", path=p,
                expected=self._written.token, actual=head.token if head else None)
        if head is None:
            if size == 0:
                return None
            raise EvidenceTampered(f"evidence log {p} holds {size} bytes but has no head anchor "
                                   f"({self.head_path.name}); refusing to re-anchor it",
                                   path=p)
        if size == 0:
            if head.lines == 0:
                return None
            raise EvidenceTampered(f"evidence log {p} is empty or was deleted, but its head "
                                   f"anchor records {head.lines} line(s)", path=p,
                                   expected=head.lines, actual=0)
        if os.pread(fd, 1, size - 1) != b"\n":
            raise EvidenceTampered(f"evidence log {p} ends with a partial line (a torn write); "
                                   "refusing to extend it", path=p)
        if head.size is not None and size != head.size:
            if size < head.size:
                raise EvidenceTampered(f"evidence log {p} was truncated: {size} bytes, its head "
                                       f"anchor records {head.size} ({head.lines} lines)",
                                       path=p, expected=head.size, actual=size)
            raise EvidenceTampered(f"evidence log {p} has {size - head.size} byte(s) after line "
                                   f"{head.lines}, where its head anchor ends: written outside "
                                   "the evidence writer (or it crashed before re-anchoring)",
                                   path=p, expected=head.size, actual=size)
        raw = _last_line(fd) or b""
        last = _parse_line(raw, p, head.lines)
        sha = line_hash(raw)
        if sha != head.last_sha256 or last.get("seq") != head.lines:
            raise EvidenceTampered(f"evidence log {p} does not end where its head anchor says "
                                   f"(line {head.lines}): the last line was changed, or lines "
                                   "were removed or added", path=p, expected=head.token,
                                   actual=f"{last.get('seq')}:{sha}")
        last["_sha"] = sha
        return last

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every line as a dict; a line that is not a JSON object is :class:`EvidenceTampered`
        naming the file and the line number."""
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for n, raw in enumerate(fh, start=1):
                if raw.strip():
                    yield _parse_line(raw, self.path, n)


@dataclass
class ChainReport:
    path: str
    ok: bool
    lines: int
    first_bad_line: int | None = None
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    head: str | None = None  # ``SEQ:SHA256`` of the last line: keep it elsewhere as a witness
    since: str | None = None  # the witness head checked (``--since``), when one was given

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def verify_chain(path: str | Path, *, since: Head | None = None) -> ChainReport:
    """Walk the chain and name the first line (1-based) that breaks it; then hold the file
    against its head anchor (a non-empty log without one is an error) and, when given, a
    witness head kept elsewhere: line ``since.lines`` must still hash to ``since.last_sha256``.
    """
    path = Path(path)
    witness = since.token if since else None

    def bad(lines: int, line: int | None, reason: str) -> ChainReport:
        return ChainReport(str(path), False, lines, line, reason, since=witness)

    head_path = head_path_of(path)
    try:
        head = read_head(head_path)
    except EvidenceTampered as exc:
        return bad(0, None, exc.message)
    if not path.exists():
        if head is not None and head.lines > 0:
            return bad(0, None, f"log was deleted: its head anchor records {head.lines} line(s)")
        return bad(0, None, "file does not exist")
    prev = GENESIS
    n = 0
    marks = {head.lines if head else -1, since.lines if since else -1}
    at: dict[int, str] = {0: GENESIS}
    raw_lines = path.read_bytes().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the newline that ends the last line
    for n, raw in enumerate(raw_lines, start=1):
        try:
            obj = json.loads(raw)
        except ValueError:
            return bad(n - 1, n, "line is not valid JSON (torn or edited)")
        if not isinstance(obj, dict) or obj.get("prev_sha256") != prev:
            return bad(n - 1, n, "prev_sha256 does not match the previous line "
                                 "(a line before it was edited, removed or inserted)")
        body = {k: v for k, v in obj.items() if k != "entry_sha256"}
        if obj.get("entry_sha256") != hashlib.sha256(canonical(body)).hexdigest():
            return bad(n - 1, n, "line content was edited (entry_sha256 does not match)")
        if obj.get("seq") != n:
            return bad(n - 1, n, f"seq is {obj.get('seq')}, expected {n}")
        if canonical(obj) != raw:
            return bad(n - 1, n, "line is not in canonical form (edited)")
        prev = line_hash(raw)
        if n in marks:
            at[n] = prev
    if head is None:
        if n > 0:
            return bad(n, None, f"no head anchor ({head_path.name}) for a log of {n} line(s): "
                                "its end cannot be vouched for")
    elif head.lines > n:
        return bad(n, n + 1, f"log was truncated: its head anchor records {head.lines} lines, "
                             f"the file has {n}")
    elif at.get(head.lines) != head.last_sha256:
        return bad(n, head.lines, f"line {head.lines} differs from the head anchor")
    elif head.lines < n:
        return bad(n, head.lines + 1, f"line {head.lines + 1} was appended after the head "
                                      "anchor's last line (written outside the evidence writer)")
    if since is not None:
        if since.lines > n:
            return bad(n, n + 1, f"the witness head records {since.lines} lines, the file has "
                                 f"{n}: the log was truncated or rewritten")
        if at.get(since.lines) != since.last_sha256:
            return bad(n, since.lines, f"line {since.lines} differs from the witness head: the "
                                       "log was rewritten since that head was kept")
    return ChainReport(str(path), True, n, head=f"{n}:{prev}", since=witness)
