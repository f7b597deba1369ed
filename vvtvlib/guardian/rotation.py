"""The rotating 1/N hash slice and its persisted position.

Files are taken in path order from a cursor; each cycle re-hashes ``ceil(files / N)`` of them,
so every file is re-hashed at least once every N cycles. The cursor, the cycle number and the
cycle each file was last hashed are kept in a 0600 state file under ``vault/``, so a restarted
guardian continues the rotation instead of starting it over (a restart must not reset coverage).
The state is tied to the baseline it was computed for: a new lockdown starts a new rotation.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.fsio import atomic_write

SCHEMA = "vvtv.sleepguard-rotation/1"


@dataclass
class RotationState:
    baseline_sha256: str
    cycle: int = 0
    cursor: int = 0
    last_hashed: dict[str, int] = field(default_factory=dict)
    # files whose content diverged: re-hashed every cycle until the divergence is gone
    content_bad: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "baseline_sha256": self.baseline_sha256, "cycle": self.cycle,
                "cursor": self.cursor, "last_hashed": self.last_hashed,
                "content_bad": self.content_bad}


def slice_size(total: int, sample: int) -> int:
    return math.ceil(total / max(1, sample)) if total else 0


def slice_for(files: list[str], cursor: int, sample: int) -> list[str]:
    """The files this cycle should hash, in order, starting at ``cursor`` and wrapping."""
    if not files:
        return []
    n = slice_size(len(files), sample)
    start = cursor % len(files)
    return [files[(start + i) % len(files)] for i in range(min(n, len(files)))]


def coverage(files: list[str], last_hashed: dict[str, int], cycle: int, sample: int) -> float:
    """Share of files re-hashed within the last ``sample`` cycles (1.0 = full coverage)."""
    if not files:
        return 1.0
    window_start = cycle - sample + 1
    fresh = sum(1 for f in files if last_hashed.get(f, -1) >= max(1, window_start))
    return fresh / len(files)


def load_state(path: str | Path, baseline_sha256: str) -> RotationState:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return RotationState(baseline_sha256)
    if data.get("schema") != SCHEMA or data.get("baseline_sha256") != baseline_sha256:
        return RotationState(baseline_sha256)
    return RotationState(baseline_sha256, int(data.get("cycle", 0)), int(data.get("cursor", 0)),
                         {str(k): int(v) for k, v in data.get("last_hashed", {}).items()},
                         {str(k): str(v) for k, v in data.get("content_bad", {}).items()})


def save_state(path: str | Path, state: RotationState) -> None:
    atomic_write(path, json.dumps(state.to_dict(), sort_keys=True, separators=(",", ":")),
                 mode=0o600)
