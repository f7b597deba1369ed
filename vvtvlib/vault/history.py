"""The station's lineage: ``vault/history/generation-NNNN.json``, one record per generation.

Every signed event that starts a new generation leaves one record: a ritual snapshot
(``kind = "snapshot"``, signed by the foundation key) and a revival (``kind = "revival"``,
its report signed by the node key). Each record carries its own signature line and the
``ancestor_signature`` of the generation before it, so the chain can be walked backwards
from any node and a fork or a gap shows up.

    {"schema": "vvtv.generation/1", "generation": 3, "kind": "revival",
     "station_id": "...", "stamp": "...", "created_utc": "...",
     "manifest_sha256": "...", "signature": "<base64 line>", "ancestor_signature": "<...>",
     "pubkey": "<minisign public key line>", "document": "resurrection_report.json",
     "document_sha256": "..."}

Records are created exclusively (``O_EXCL``) and never rewritten: a generation number is
used once. Rollback protection compares a snapshot's generation with the newest one the
target already knows.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import CheckFailed, IntegrityError

HISTORY_SCHEMA = "vvtv.generation/1"
_NAME = re.compile(r"^generation-(\d{4,})\.json$")


class RollbackRefused(CheckFailed):
    """The snapshot is older than a generation the target already recorded."""


@dataclass
class GenerationRecord:
    generation: int
    kind: str  # snapshot | revival
    station_id: str
    stamp: str
    created_utc: str
    signature: str | None
    ancestor_signature: str | None
    manifest_sha256: str | None = None
    pubkey: str | None = None
    document: str | None = None
    document_sha256: str | None = None
    schema: str = HISTORY_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRecord:
        known: dict[str, Any] = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def record_path(history_dir: Path, generation: int) -> Path:
    return Path(history_dir) / f"generation-{generation:04d}.json"


def read_history(history_dir: str | Path) -> list[GenerationRecord]:
    """Every record, oldest first. A file that is not a record is an integrity error."""
    folder = Path(history_dir)
    if not folder.is_dir():
        return []
    records = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if not match:
            continue
        try:
            record = GenerationRecord.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise IntegrityError(f"history record {path} is not valid: {exc}", path=path) from exc
        if record.generation != int(match.group(1)):
            raise IntegrityError(f"history record {path} says generation {record.generation}",
                                 path=path, expected=int(match.group(1)),
                                 actual=record.generation)
        records.append(record)
    return sorted(records, key=lambda r: r.generation)


def newest_generation(history_dir: str | Path) -> int:
    """0 when the target has no history (a brand-new node)."""
    records = read_history(history_dir)
    return records[-1].generation if records else 0


def check_rollback(snapshot_generation: int, newest_known: int, *, allow: bool) -> str | None:
    """Refuse to bring back a generation older than one the target already recorded.

    Returns a warning sentence when a rollback was explicitly allowed, else None.
    """
    if snapshot_generation >= newest_known:
        return None
    message = (f"snapshot generation {snapshot_generation} is older than generation "
               f"{newest_known} recorded in the target's history")
    if not allow:
        raise RollbackRefused(message + " (rollback refused; --force-rollback overrides)",
                              expected=f">= {newest_known}", actual=snapshot_generation)
    return message + "; rollback forced by the operator"


def write_record(history_dir: str | Path, record: GenerationRecord) -> Path:
    """Create the record file; an existing generation is never overwritten."""
    folder = Path(history_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = record_path(folder, record.generation)
    data = json.dumps(record.to_dict(), indent=2, sort_keys=True).encode() + b"\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        existing = json.loads(path.read_text())
        if existing == record.to_dict():
            return path  # a re-run writing the very same record
        raise IntegrityError(f"generation {record.generation} is already recorded in {path}",
                             path=path) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def lineage_problems(records: list[GenerationRecord]) -> list[str]:
    """Gaps and broken links in a history: each record must name its predecessor's signature."""
    problems = []
    for prev, cur in zip(records, records[1:], strict=False):
        if cur.generation != prev.generation + 1:
            problems.append(f"gap between generation {prev.generation} and {cur.generation}")
        elif prev.signature and cur.ancestor_signature != prev.signature:
            problems.append(f"generation {cur.generation} does not name generation "
                            f"{prev.generation}'s signature as its ancestor")
    return problems

