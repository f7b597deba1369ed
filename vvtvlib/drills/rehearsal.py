"""Revival rehearsals (seed: "revival trimestral em nó reserva"): make a real source snapshot
on a small lab station, so a revival, a drill or a chaos experiment has something true to
bring back.

``prepare_source`` provisions a station, brings it up, lets it air a few segments, runs the
shutdown ritual (which stops it cleanly) and returns where the signed snapshot is. Thresholds
that only make sense on a long-running station (encoder stable for 60 s) are shortened for
the rehearsal, and the journal records the values used.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import TimedOut, UsageError
from vvtvlib.core.layout import StationLayout
from vvtvlib.ritual.flow import RitualOptions, run_ritual
from vvtvlib.station.config import load_station_config
from vvtvlib.station.control import status
from vvtvlib.station.provision import init_station
from vvtvlib.station.supervisor import station_down, station_up
from vvtvlib.vault.folder import MANIFEST
from vvtvlib.vault.folder import newest_snapshot as newest_in
from vvtvlib.vault.schema import load_manifest

REHEARSAL_OVERRIDES = ("prechecks.encoder_stable_s=1", "freeze.wait_empty_timeout_s=60")


@dataclass(frozen=True)
class SourceSnapshot:
    root: Path
    snapshot: Path
    pubkey: Path
    secret_key: Path
    station_id: str
    generation: int
    ritual_s: float

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def newest_snapshot(root: str | Path) -> Path | None:
    """The newest sealed snapshot of a station root (the vault's ordering, by stamp)."""
    return newest_in(StationLayout.at(root).snapshots)


def describe(root: str | Path, ritual_s: float = 0.0) -> SourceSnapshot:
    layout = StationLayout.at(root)
    snap = newest_snapshot(layout.root)
    if snap is None:
        raise UsageError(f"{layout.root} has no committed snapshot", path=layout.snapshots)
    manifest = load_manifest(snap / MANIFEST)
    return SourceSnapshot(layout.root, snap, layout.foundation_pub, layout.foundation_key,
                          load_station_config(layout).station.id, manifest.generation, ritual_s)


def wait_aired(root: Path, seconds: float, timeout_s: float = 60.0) -> None:
    """Let the station air ``seconds`` of programme, so the final frame is mid-item."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = status(StationLayout.at(root))
        playing = st.playing or {}
        if float(playing.get("offset_s") or 0.0) >= seconds:
            return
        time.sleep(0.3)
    raise TimedOut(f"the lab station did not air {seconds:g} s within {timeout_s:g} s")


def prepare_source(root: str | Path, *, items: int = 2, clip_seconds: int = 12,
                   size_mb: int = 0, profile: str = "embedded", seed: int = 1,
                   clip_cache: str | Path | None = None, aired_s: float = 4.0,
                   overrides: tuple[str, ...] = REHEARSAL_OVERRIDES) -> SourceSnapshot:
    """A fresh lab station at ``root`` and one signed ritual snapshot of it."""
    init_station(root, profile=profile, size_mb=size_mb, seed=seed, items=items,
                 clip_seconds=clip_seconds, clip_cache=clip_cache)
    layout = StationLayout.at(root)
    station_up(layout)
    try:
        wait_aired(layout.root, aired_s)
        t0 = time.monotonic()
        run_ritual(layout, RitualOptions(overrides=list(overrides)))
        ritual_s = time.monotonic() - t0
    finally:
        station_down(layout)
    return describe(layout.root, round(ritual_s, 3))
