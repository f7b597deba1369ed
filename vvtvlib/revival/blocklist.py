"""The content gate: a blocklist of flagged content that no revival may bring back on air.

``vault/blocklist.json`` on the target node (the new node's policy, never the snapshot's):

    {"schema": "vvtv.blocklist/1",
     "sha256": [{"sha256": "<hex>", "reason": "..."}, ...],
     "phash":  [{"phash": "<16 hex>", "max_distance": 6, "reason": "..."}, ...]}

``sha256`` entries match any restored file byte for byte (checked against the signed
manifest's per-file hashes, which the restorer enforces on every byte it writes).
``phash`` entries match frames by perceptual-hash Hamming distance: the final frame, every
restored image, and frames sampled over the whole length of every restored clip. Plain
strings are accepted in both lists.

What is media is decided by content (``vvtvlib.media.sniff``: container and image magic
bytes), never by file name: a clip renamed ``.MP4``, ``.bin`` or given no suffix is still
sampled, and a file that is not media (databases, configs, random archive filler, whatever
its suffix) is matched by exact hash only and never handed to a decoder. A file whose bytes
say it is media but that FFmpeg cannot decode is refused: the gate cannot clear it.
Sampling (``vvtvlib.media.sampling``) costs at most ``max_frames`` seeks per clip whatever
its length.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import CheckFailed, ConfigError
from vvtvlib.media.sampling import DEFAULT_SAMPLING, SamplingPolicy, sample_frames
from vvtvlib.media.sniff import Sniffed, sniff

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


# ---------------------------------------------------------------- frames of a restored tree


class ContentUnreadable(ContentBlocked):
    """A file that is media by its bytes could not be decoded, so it cannot be cleared."""


@dataclass
class ContentScan:
    """What the gate looked at in a tree: (label, phash) frames and what it decided."""

    frames: list[tuple[str, str]] = field(default_factory=list)
    media: list[str] = field(default_factory=list)
    skipped_non_media: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"frames_checked": len(self.frames), "media_files": self.media,
                "skipped_non_media": self.skipped_non_media}


def _regular_files(root: Path) -> list[Path]:
    """Regular files under ``root``, symbolic links neither followed nor returned."""
    out: list[Path] = []
    for dirpath, _dirs, names in os.walk(root, followlinks=False):
        for name in names:
            path = Path(dirpath) / name
            if stat.S_ISREG(path.lstat().st_mode):
                out.append(path)
    return sorted(out)


def _frames_of(path: Path, kind: Sniffed, label: str, work: Path,
               policy: SamplingPolicy) -> list[tuple[str, str]]:
    from vvtvlib.media.compare import phash

    try:
        if kind.kind == "image":
            return [(label, phash(path))]
        return [(f"{label}@{t:g}s", phash(frame))
                for t, frame in sample_frames(path, work, policy)]
    except CheckFailed as exc:
        raise ContentUnreadable(
            f"{label} is {kind.format} media by its content but cannot be decoded, so the "
            "content gate cannot clear it", path=label, expected="decodable media",
            actual=kind.format, cause=exc.message) from exc
    except OSError as exc:  # PIL: truncated or corrupt image, decompression bomb
        raise ContentUnreadable(
            f"{label} is {kind.format} media by its content but cannot be decoded, so the "
            "content gate cannot clear it", path=label, expected="decodable media",
            actual=kind.format, cause=str(exc)) from exc


def scan_content(root: Path, *, extra: Iterable[tuple[str, Path]] = (),
                 policy: SamplingPolicy = DEFAULT_SAMPLING) -> ContentScan:
    """Perceptual hashes of every media file under ``root`` (labelled by its path relative
    to ``root``) and of the ``extra`` (label, file) pairs, media found by content."""
    scan = ContentScan()
    with tempfile.TemporaryDirectory(prefix="vvtv-gate-") as tmp:
        candidates = [(label, path) for label, path in extra if path.is_file()]
        candidates += [(p.relative_to(root).as_posix(), p) for p in _regular_files(root)]
        for n, (label, path) in enumerate(candidates):
            kind = sniff(path)
            if kind is None:
                scan.skipped_non_media += 1
                continue
            scan.media.append(label)
            scan.frames += _frames_of(path, kind, label, Path(tmp) / f"{n:06d}", policy)
    return scan
