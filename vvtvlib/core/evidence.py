"""Append-only, hash-chained JSONL evidence logs shared by every epic.

Each line is a JSON object whose ``prev_sha256`` is the hex sha256 of the previous line's
bytes (without its newline); the first line chains from 64 zeros. ``seq`` counts lines from 1,
and ``entry_sha256`` seals the line's own content (the canonical JSON without that field), so
an edited line is named itself, not only by the line after it.
Appends take an exclusive ``flock`` and read the tail under it, so writers in several
processes never interleave or fork the chain. A ``<file>.head`` anchor (line count and last
line hash, replaced atomically under the same lock) lets ``verify`` detect a log that was cut
back to an earlier, still well-chained, length.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clock import SYSTEM_CLOCK, Clock, utc_iso
from .errors import IntegrityError
from .fsio import atomic_write

GENESIS = "0" * 64
_TAIL_CHUNK = 64 * 1024


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


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class EvidenceLog:
    """One evidence log file. ``append`` is safe across threads and processes."""

    def __init__(self, path: str | Path, *, clock: Clock = SYSTEM_CLOCK, mode: int = 0o600):
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.clock = clock
        self.mode = mode

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, self.mode)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _last_line(fd)
            if last is not None and os.pread(fd, 1, os.fstat(fd).st_size - 1) != b"\n":
                raise IntegrityError("evidence log ends with a partial line; refusing to extend it",
                                     path=self.path)
            prev_seq = json.loads(last)["seq"] if last else 0
            entry = {**record, "seq": prev_seq + 1, "ts": utc_iso(self.clock.now()),
                     "prev_sha256": line_hash(last) if last else GENESIS}
            entry.pop("entry_sha256", None)
            entry["entry_sha256"] = hashlib.sha256(canonical(entry)).hexdigest()
            line = canonical(entry)
            os.write(fd, line + b"\n")
            os.fsync(fd)
            self._write_head(entry["seq"], line_hash(line))
            return entry
        finally:
            os.close(fd)

    def _write_head(self, lines: int, last_sha: str) -> None:
        # Not fsynced: the log line itself was, and a stale anchor only under-reports.
        atomic_write(self.head_path, canonical({"lines": lines, "last_sha256": last_sha}) + b"\n",
                     mode=self.mode, durable=False)

    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    yield json.loads(raw)


@dataclass
class ChainReport:
    path: str
    ok: bool
    lines: int
    first_bad_line: int | None = None
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def verify_chain(path: str | Path) -> ChainReport:
    """Walk the chain; name the first line (1-based) that breaks it."""
    path = Path(path)
    if not path.exists():
        return ChainReport(str(path), False, 0, None, "file does not exist")
    prev = GENESIS
    n = 0
    raw_lines = path.read_bytes().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the newline that ends the last line
    for n, raw in enumerate(raw_lines, start=1):
        try:
            obj = json.loads(raw)
        except ValueError:
            return ChainReport(str(path), False, n - 1, n,
                               "line is not valid JSON (torn or edited)")
        if not isinstance(obj, dict) or obj.get("prev_sha256") != prev:
            return ChainReport(str(path), False, n - 1, n,
                               "prev_sha256 does not match the previous line "
                               "(a line before it was edited, removed or inserted)")
        body = {k: v for k, v in obj.items() if k != "entry_sha256"}
        if obj.get("entry_sha256") != hashlib.sha256(canonical(body)).hexdigest():
            return ChainReport(str(path), False, n - 1, n, "line content was edited "
                               "(entry_sha256 does not match)")
        if obj.get("seq") != n:
            return ChainReport(str(path), False, n - 1, n, f"seq is {obj.get('seq')}, expected {n}")
        if canonical(obj) != raw:
            return ChainReport(str(path), False, n - 1, n, "line is not in canonical form (edited)")
        prev = line_hash(raw)
    report = ChainReport(str(path), True, n)
    head_path = path.with_name(path.name + ".head")
    if head_path.exists():
        head = json.loads(head_path.read_text())
        if head.get("lines", 0) > n:
            return ChainReport(str(path), False, n, n + 1,
                               f"log was truncated: its head anchor records {head['lines']} lines, "
                               f"the file has {n}")
        if head.get("lines") == n and head.get("last_sha256") != prev:
            return ChainReport(str(path), False, n, n, "last line differs from the head anchor")
    else:
        report.warnings.append("no head anchor: truncation at the end cannot be detected")
    return report
