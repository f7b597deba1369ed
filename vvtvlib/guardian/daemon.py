"""The guardian loop: anchor the baseline, then cycle, report, and wait (watching) forever or
for a number of cycles. Everything it writes goes to ``vault/`` top level (0600).

When the report log no longer ends where its head anchor says (truncated, deleted, a line
added behind the writer's back, the anchor lost or unreadable), the guardian does not
re-anchor it: it leaves it as found and writes an alert line, with the record it could not
append, to ``vault/sleepguard_tamper.jsonl``; the run is not ok and ``resume`` refuses."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import IntegrityError
from vvtvlib.core.evidence import EvidenceLog, EvidenceTampered

from .baseline import Baseline, build_baseline, load_baseline, write_baseline
from .cycle import run_cycle
from .model import CycleReport, Divergence, WatchAlert
from .options import GuardianOptions
from .paths import GuardianPaths
from .rotation import RotationState, load_state, save_state
from .statelog import append_state, pinned_baseline
from .trust import ManifestCheck, pinned_keys, verify_manifests
from .watch import ClockWaiter, Waiter, WatchWaiter

Observer = Callable[[dict[str, Any]], None]


@dataclass
class GuardianStart:
    baseline_sha256: str
    established: bool
    files: int
    entries: int
    manifests: list[ManifestCheck]
    resumed_at_cycle: int


@dataclass
class GuardianRun:
    start: GuardianStart
    cycles: list[CycleReport] = field(default_factory=list)
    alerts: list[WatchAlert] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)  # why the report log was refused

    @property
    def divergences(self) -> int:
        return sum(len(c.divergences) for c in self.cycles) + sum(
            len(a.divergences) for a in self.alerts)

    @property
    def ok(self) -> bool:
        return self.divergences == 0 and not self.tampered

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "baseline_sha256": self.start.baseline_sha256,
                "cycles": [c.to_record() for c in self.cycles],
                "alerts": [a.to_record() for a in self.alerts], "tampered": self.tampered}


class Guardian:
    """``start()`` anchors the baseline in the signed manifest; ``cycle()`` runs and records one
    cycle; ``run()`` loops with waits in between."""

    def __init__(self, paths: GuardianPaths, options: GuardianOptions | None = None, *,
                 clock: Clock = SYSTEM_CLOCK, observer: Observer | None = None,
                 stop: threading.Event | None = None, waiter: Waiter | None = None) -> None:
        self.paths = paths
        self.options = options or GuardianOptions()
        self.clock = clock
        self.observer = observer
        self.stop = stop or threading.Event()
        self.waiter = waiter
        self.report_log = EvidenceLog(paths.report, clock=clock)
        self.tamper_log = EvidenceLog(paths.tamper, clock=clock)
        self.tampered: list[str] = []
        self.baseline: Baseline | None = None
        self.state: RotationState | None = None
        self.started: GuardianStart | None = None

    # -------------------------------------------------------------- start
    def start(self) -> GuardianStart:
        pinned = pinned_baseline(self.paths)
        established = False
        if pinned is None:
            # Not locked down: guard the vault as it is now, and pin that baseline.
            baseline = build_baseline(self.paths, established_by="guardian", clock=self.clock)
            pubkeys = pinned_keys(self.paths.layout)
            manifests = verify_manifests(self.paths, baseline, pubkeys)
            sha = write_baseline(self.paths.baseline, baseline)
            append_state(self.paths, {"event": "baseline", "established_by": "guardian",
                                      "baseline_sha256": sha}, self.clock)
            established = True
        else:
            baseline, sha = load_baseline(self.paths.baseline)
            if sha != pinned:
                raise IntegrityError(f"guardian baseline {self.paths.baseline} was changed after "
                                     "it was recorded in the state log; refusing to guard",
                                     path=self.paths.baseline, expected=pinned, actual=sha)
            manifests = verify_manifests(self.paths, baseline, pinned_keys(
                self.paths.layout))
        try:
            self.report_log.check()  # a report damaged while no guardian ran: say so at once
        except EvidenceTampered as exc:
            self._alert_tampered(exc, None)
        self.baseline = baseline
        self.state = load_state(self.paths.rotation, sha)
        self.started = GuardianStart(sha, established, len(baseline.files),
                                     len(baseline.entries), manifests, self.state.cycle)
        return self.started

    # -------------------------------------------------------------- cycles
    def cycle(self) -> CycleReport:
        if self.baseline is None or self.state is None:
            self.start()
        assert self.baseline is not None and self.state is not None
        report = run_cycle(self.paths, self.baseline, self.state, self.options,
                           should_stop=self.stop.is_set)
        save_state(self.paths.rotation, self.state)
        self._record(report.to_record())
        return report

    def _record(self, record: dict[str, Any]) -> None:
        try:
            entry = self.report_log.append(record)
        except EvidenceTampered as exc:
            self._alert_tampered(exc, record)
            return
        if self.observer is not None:
            self.observer(entry)

    def _alert_tampered(self, exc: EvidenceTampered, record: dict[str, Any] | None) -> None:
        """The report log was refused: alert in the tamper log (a chain of its own), keeping
        the record that could not be appended. A tamper log that is itself damaged raises."""
        self.tampered.append(exc.message)
        entry = self.tamper_log.append({"type": "tamper", "alert": True,
                                        "file": self.paths.rel(self.paths.report),
                                        "reason": exc.message, "unrecorded": record})
        if self.observer is not None:
            self.observer(entry)

    def _waiter(self) -> Waiter:
        if self.waiter is None:
            self.waiter = (WatchWaiter(self.paths.guarded_roots, self.stop)
                           if self.options.watch else ClockWaiter(self.clock, self.stop))
        return self.waiter

    def wait(self, seconds: float) -> list[WatchAlert]:
        """Wait between cycles; each batch of changes seen is an alert line at once."""
        alerts = []
        deadline = self.clock.monotonic() + seconds
        after = self.state.cycle if self.state else 0
        while not self.stop.is_set():
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                break
            changes = self._waiter().wait(remaining)
            if changes:
                alert = WatchAlert(after, [self._change(kind, path) for kind, path in changes])
                self._record(alert.to_record())
                alerts.append(alert)
        return alerts

    def _change(self, kind: str, path: str) -> Divergence:
        try:
            rel = self.paths.rel(Path(path))
        except ValueError:
            rel = path
        return Divergence(rel, "write_event", "no change", kind)

    def run(self, cycles: int | None = None) -> GuardianRun:
        """Cycle until ``cycles`` are done (None: until stopped), waiting ``interval_s``."""
        start = self.started or self.start()
        run = GuardianRun(start)
        while not self.stop.is_set():
            run.cycles.append(self.cycle())
            if cycles is not None and len(run.cycles) >= cycles:
                break
            run.alerts.extend(self.wait(self.options.interval_s))
        run.tampered = list(self.tampered)
        return run


def run_guardian(paths: GuardianPaths, options: GuardianOptions | None = None, *,
                 cycles: int | None = None, clock: Clock = SYSTEM_CLOCK,
                 observer: Observer | None = None, stop: threading.Event | None = None,
                 waiter: Waiter | None = None) -> GuardianRun:
    return Guardian(paths, options, clock=clock, observer=observer, stop=stop,
                    waiter=waiter).run(cycles)
