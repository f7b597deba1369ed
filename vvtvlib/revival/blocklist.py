"""The content gate: a blocklist of flagged content that no revival may bring back on air.

``vault/blocklist.json`` on the target node (the new node's policy, never the snapshot's):

    {"schema": "vvtv.blocklist/1",
     "sha256": [{"sha256": "<hex>", "reason": "..."}, ...],
     "phash":  [{"phash": "<16 hex>", "max_distance": 6, "reason": "..."}, ...]}

``sha256`` entries match any restored file byte for byte (checked against the signed
manifest's per-file hashes, which the restorer enforces on every byte it writes).
``phash`` entries match frames: the final frame and frames sampled from each mezzanine clip,
by perceptual-hash Hamming distance. Plain strings are accepted in both lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import CheckFailed, ConfigError

BLOCKLIST_SCHEMA = "vvtv.blocklist/1"
DEFAULT_PHASH_DISTANCE = 6


class ContentBlocked(CheckFailed):
    """Restored content matched the blocklist; the revival is refused."""


@dataclass(frozen=True)
class HashEntry:
    sha256: str
    reason: str = ""


@dataclass(frozen=True)
class PhashEntry:
    phash: str
    max_distance: int = DEFAULT_PHASH_DISTANCE
    reason: str = ""


@dataclass
class Blocklist:
    sha256: list[HashEntry] = field(default_factory=list)
    phash: list[PhashEntry] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.sha256 and not self.phash

    def merged(self, other: Blocklist) -> Blocklist:
        return Blocklist(self.sha256 + other.sha256, self.phash + other.phash,
                         self.sources + other.sources)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": BLOCKLIST_SCHEMA, "sha256": [asdict(e) for e in self.sha256],
                "phash": [asdict(e) for e in self.phash]}


@dataclass(frozen=True)
class Match:
    path: str
    kind: str  # sha256 | phash
    value: str
    entry: str
    distance: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_blocklist(data: dict[str, Any], source: str = "<blocklist>") -> Blocklist:
    if not isinstance(data, dict) or data.get("schema", BLOCKLIST_SCHEMA) != BLOCKLIST_SCHEMA:
        raise ConfigError(f"{source}: not a {BLOCKLIST_SCHEMA} document", path=source)
    try:
        hashes = [HashEntry(e.lower()) if isinstance(e, str)
                  else HashEntry(str(e["sha256"]).lower(), str(e.get("reason", "")))
                  for e in data.get("sha256", [])]
        phashes = [PhashEntry(e.lower()) if isinstance(e, str)
                   else PhashEntry(str(e["phash"]).lower(),
                                   int(e.get("max_distance", DEFAULT_PHASH_DISTANCE)),
                                   str(e.get("reason", "")))
                   for e in data.get("phash", [])]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{source}: invalid entry: {exc}", path=source) from exc
    for e in hashes:
        if len(e.sha256) != 64 or not _is_hex(e.sha256):
            raise ConfigError(f"{source}: {e.sha256!r} is not a sha256 hex digest", path=source)
    for p in phashes:
        if not _is_hex(p.phash):
            raise ConfigError(f"{source}: {p.phash!r} is not a hex perceptual hash", path=source)
    return Blocklist(hashes, phashes, [source])


def load_blocklist(paths: Iterable[str | Path]) -> Blocklist:
    """Merge every existing blocklist file; missing files contribute nothing."""
    out = Blocklist()
    for path in paths:
        p = Path(path)
        if not p.exists():
            continue
        try:
            data = json.loads(p.read_text())
        except ValueError as exc:
            raise ConfigError(f"blocklist {p} is not valid JSON: {exc}", path=p) from exc
        out = out.merged(parse_blocklist(data, str(p)))
    return out


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def hamming(a: str, b: str) -> int:
    """Bit distance between two hex perceptual hashes of the same length."""
    if len(a) != len(b):
        return 1 << 30
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def match_files(blocklist: Blocklist, files: Iterable[tuple[str, str]]) -> list[Match]:
    """``files`` are (path, sha256) pairs."""
    wanted = {e.sha256: e for e in blocklist.sha256}
    return [Match(path, "sha256", digest, digest, reason=wanted[digest].reason)
            for path, digest in files if digest and digest.lower() in wanted]


def match_frames(blocklist: Blocklist, frames: Iterable[tuple[str, str]]) -> list[Match]:
    """``frames`` are (label, phash hex) pairs, e.g. ("storage/ready/item-3.mp4@1.0s", "...")."""
    out = []
    for label, value in frames:
        for entry in blocklist.phash:
            d = hamming(value, entry.phash)
            if d <= entry.max_distance:
                out.append(Match(label, "phash", value, entry.phash, d, entry.reason))
    return out


def refuse_if_matched(matches: list[Match]) -> None:
    if not matches:
        return
    first = matches[0]
    what = (f"sha256 {first.value}" if first.kind == "sha256"
            else f"perceptual hash {first.value} (distance {first.distance} to {first.entry})")
    raise ContentBlocked(
        f"blocklisted content in the snapshot: {first.path} matches {what}"
        + (f" ({first.reason})" if first.reason else "")
        + (f", and {len(matches) - 1} more" if len(matches) > 1 else ""),
        path=first.path, expected="not on the blocklist", actual=first.value,
        matches=[m.to_dict() for m in matches])
