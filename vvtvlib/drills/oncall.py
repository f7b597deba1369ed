"""What the O2 drill runs: a lab (station, pool emulators, API on one root), a flag toggled
on the running station, three change requests, escalation timelines. The notebook only
renders these results."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w
import typer

from vvtvlib.core.config import read_toml
from vvtvlib.core.errors import CheckFailed
from vvtvlib.core.features import flags_path
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.wait import wait_until
from vvtvlib.ops import flags as flags_mod
from vvtvlib.ops.change import (
    ChangeJournal,
    PreflightOptions,
    apply_change,
    edit_cr,
    new_cr,
    preflight,
)
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.oncall.escalation import Timeline, load_policy, parse_at, simulate
from vvtvlib.ops.oncall.rota import Rota
from vvtvlib.ops.status import OpsStatus, ops_status
from vvtvlib.station import api as station


@dataclass
class OncallLab:
    root: Path
    profile: str = "embedded"
    planner_interval_s: float = 0.4
    up_timeout_s: float = 90
    layout: StationLayout = field(init=False)
    pool: Any = None
    api: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layout = StationLayout.at(Path(self.root).absolute())

    def up(self) -> OncallLab:
        from vvtvlib.api.init import api_init
        from vvtvlib.api.supervisor import api_up
        from vvtvlib.pool.emulator.process import free_port
        from vvtvlib.pool.lab import PoolLab
        from vvtvlib.station.provision import init_station

        self.down()  # a previous run's leftovers
        init_station(self.layout.root, profile=self.profile, force=True)
        cfg = self.layout.configs / "station.toml"
        data = read_toml(cfg)
        data["workers"]["planner_interval_s"] = self.planner_interval_s
        cfg.write_text(tomli_w.dumps(data))
        station.up(self.layout, timeout_s=self.up_timeout_s)
        self.pool = PoolLab(root=self.layout.root).start()
        api_init(self.layout.root, port=free_port(), force=True,
                 provider_ports=[free_port() for _ in range(3)])
        self.api = api_up(self.layout.root, profile="embedded", workers=1, timeout_s=60)
        return self

    def down(self) -> None:
        from vvtvlib.api.supervisor import api_down

        if (self.layout.root / "api").exists():
            api_down(self.layout.root)
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if (self.layout.root / "system").exists():
            station.down(self.layout)

    def applied(self, flag: str, value: Any) -> bool:
        feats = station.status(self.layout).features or {}
        return bool(feats.get("flags", {}).get(flag) == value)

    def decisions(self) -> list[dict[str, Any]]:
        path = self.layout.logs / "curator_vigilante.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def set_flag(self, assignment: str, reason: str) -> flags_mod.FlagChange:
        flag, text = flags_mod.parse_assignment(assignment)
        return flags_mod.set_flag(flags_path(self.layout.root), flag,
                                  flags_mod.parse_value(flag, text), reason=reason)

    def status(self) -> OpsStatus:
        return ops_status(self.layout.root, catalog_dir=REPO / "ops" / "slo")


@dataclass
class FlagToggle:
    before: list[str]
    after: list[str]
    applied_in_s: float
    same_pid: bool
    audit: list[dict[str, Any]]


def toggle_curator(lab: OncallLab, decisions: int = 5) -> FlagToggle:
    """Curator applying everything, then ``curator.apply_enabled=false`` on the live station."""
    lab.set_flag("curator.min_confidence_apply=0", "drill: apply every proposal")
    lab.set_flag("curator.apply_enabled=true", "drill: apply every proposal")
    wait_until(lambda: lab.applied("curator.min_confidence_apply", 0.0), 5, 0.05)
    mark = len(lab.decisions())
    wait_until(lambda: len(lab.decisions()) >= mark + decisions, 30, 0.2)
    before = [d["decision"] for d in lab.decisions()[mark:]]
    pid = station.status(lab.layout).pid
    t0 = time.monotonic()
    lab.set_flag("curator.apply_enabled=false", "freeze curator (drill)")
    wait_until(lambda: lab.applied("curator.apply_enabled", False), 5, 0.02)
    applied_in = time.monotonic() - t0
    mark = len(lab.decisions())
    wait_until(lambda: len(lab.decisions()) >= mark + decisions, 30, 0.2)
    after = [d["decision"] for d in lab.decisions()[mark:]]
    audit_file = flags_mod.audit_path(flags_path(lab.layout.root))
    audit = [json.loads(x) for x in audit_file.read_text().splitlines()]
    return FlagToggle(before, after, round(applied_in, 3),
                      station.status(lab.layout).pid == pid, audit)


@dataclass
class CrRun:
    cr: str
    action: str
    outcome: str
    exit_code: int
    journal: ChangeJournal

    def rows(self) -> list[dict[str, Any]]:
        return [{"cr": self.cr, "action": self.action, "check": s.name,
                 "result": "PASS" if s.status.passed else "FAIL", "reason": s.summary}
                for s in self.journal.steps if s.name != "settle"]


def _recording(path: Path, age_s: float) -> Path:
    path.write_text("".join(json.dumps({"ts": 1000.0 + 60 * i, "samples": [
        ["stream_segment_age_seconds", {}, age_s]]}) + "\n" for i in range(30)))
    return path


def change_requests(lab: OncallLab, apps: Mapping[str, typer.Typer], at: str
                    ) -> list[CrRun]:
    """One CR applied, one refused by the error-budget gate, one rolled back by itself."""
    crs = lab.layout.root / "change_requests"
    shutil.rmtree(crs, ignore_errors=True)
    shutil.copytree(REPO / "ops" / "change_requests", crs)
    healthy = _recording(crs / "healthy.jsonl", 1.5)
    spent = _recording(crs / "spent.jsonl", 30.0)
    when = parse_at(at, datetime.now(UTC))

    def make(slug: str, flags: dict[str, Any]) -> Path:
        path = new_cr(crs, slug, owner="diego.sre", title=slug.replace("-", " "), at=when)
        edit_cr(path, flags=flags, approved_by="elisa.sre", at=when)
        return path

    def run(path: Path, action: str, samples: Path) -> CrRun:
        opts = PreflightOptions(REPO, apps, root=lab.layout.root, samples=samples, at=when)
        try:
            j = apply_change(path, opts) if action == "apply" else preflight(path, opts)
            return CrRun(path.stem, action, j.outcome, 0, j)
        except CheckFailed as exc:
            journal = exc.journal
            assert isinstance(journal, ChangeJournal)
            return CrRun(path.stem, action, journal.outcome, exc.exit_code, journal)

    return [run(make("hedge-sooner", {"pool.hedge_after_ms": 150}), "apply", healthy),
            run(make("autopilot-on", {"autopilot.enabled": True}), "preflight", spent),
            run(make("deadline-cut", {"pool.heavy_deadline_ms": 1}), "apply", healthy)]


def escalations() -> list[Timeline]:
    policy = load_policy(REPO / "ops/oncall/escalation.yaml")
    rota = Rota.load(REPO / "ops/oncall/rota.ics")
    sunday = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    return [simulate(policy, rota, "StreamSegmentAgeHigh", sunday),
            simulate(policy, rota, "ApiErrorRateHigh", monday, ack_after_min=12),
            simulate(policy, rota, "PoolTimeoutsHigh", monday)]
