"""What the M2 drill notebook calls: a lab station taken through the ritual, and K guardian
cycles with a tamper injected mid-run, returned as rows the notebook plots."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import TimedOut
from vvtvlib.core.layout import StationLayout
from vvtvlib.guardian import Guardian, GuardianOptions, GuardianPaths
from vvtvlib.hibernation.immutability import release_immutability
from vvtvlib.ritual import RitualOptions, run_ritual
from vvtvlib.station.control import status
from vvtvlib.station.provision import init_station
from vvtvlib.station.supervisor import station_down, station_up

from .tamper import EXPECTED_KIND, Tamper, inject, revert

FAST_RITUAL = ["prechecks.encoder_stable_s=2", "freeze.wait_empty_timeout_s=60"]


def prepare_lab(root: str | Path, *, profile: str = "embedded", items: int = 3,
                clip_seconds: int = 8, seed: int = 1, up_timeout_s: float = 90) -> dict[str, Any]:
    """A fresh lab station at ``root``, brought up, then through the real shutdown ritual."""
    layout = StationLayout.at(Path(root).absolute())
    if layout.root.exists():  # a previous drill may have left it locked and running
        release_immutability(GuardianPaths(layout), None)
        if layout.db("control").exists():
            station_down(layout, timeout_s=20)
    init_station(layout.root, profile=profile, seed=seed, force=True, items=items,
                 clip_seconds=clip_seconds)
    station_up(layout, timeout_s=up_timeout_s)
    deadline = time.monotonic() + up_timeout_s
    while not (status(layout).encoder_uptime_s > 2.5):
        if time.monotonic() > deadline:
            raise TimedOut("the lab encoder did not stabilise")
        time.sleep(0.25)
    journal = run_ritual(layout, RitualOptions(overrides=FAST_RITUAL))  # raises if it stops
    return {"layout": layout, "snapshot": journal.snapshot_dir}


@dataclass
class GuardianDrill:
    rows: list[dict[str, Any]] = field(default_factory=list)
    tamper: Tamper | None = None
    injected_after: int | None = None
    caught_at: int | None = None
    false_alarms: int = 0
    clean_after_revert: bool | None = None

    @property
    def cycles_to_catch(self) -> int | None:
        if self.caught_at is None or self.injected_after is None:
            return None
        return self.caught_at - self.injected_after


def guardian_drill(layout: StationLayout, *, cycles: int, sample: int, tamper: str | None,
                   tamper_after: int, revert_at_end: bool = True) -> GuardianDrill:
    """``cycles`` guardian cycles (the clock is simulated: no real 15-min waits); after cycle
    ``tamper_after`` an intruder does ``tamper``. Records the cycle that caught it and any
    divergence seen before it (false alarms); then reverts the tamper so resume can follow."""
    paths = GuardianPaths(layout)
    g = Guardian(paths, GuardianOptions(sample=sample, watch=False),
                 clock=FakeClock(start=datetime.now(UTC)))
    out = GuardianDrill()
    for i in range(1, cycles + 1):
        report = g.cycle()
        hit = out.tamper is not None and any(
            d.path == out.tamper.path and d.kind == EXPECTED_KIND[out.tamper.kind]
            for d in report.divergences)
        if out.tamper is None and report.divergences:
            out.false_alarms += len(report.divergences)
        if hit and out.caught_at is None:
            out.caught_at = report.cycle
        out.rows.append({"cycle": report.cycle, "files_hashed": report.files_hashed,
                         "bytes_hashed": report.bytes_hashed, "coverage": report.coverage,
                         "duration_s": report.duration_s,
                         "divergences": len(report.divergences), "caught": hit})
        if tamper and i == tamper_after:
            out.tamper, out.injected_after = inject(paths, tamper), report.cycle
        g.clock.sleep(g.options.interval_s)
    if out.tamper is not None and revert_at_end:
        revert(paths, out.tamper)
        out.clean_after_revert = not g.cycle().divergences
    return out
