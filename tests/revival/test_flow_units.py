"""Report, phases on the step runner, target inspection, placement and schema migration (no
station)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import IntegrityError
from vvtvlib.core.steps import Step, StepContext, StepObserver, StepRecord, StepStatus, run_steps
from vvtvlib.revival.flow import PhaseContext
from vvtvlib.revival.phases import Phase, RevivalReport
from vvtvlib.revival.provision import inspect_target
from vvtvlib.revival.restore import migrate_from_schema, move_into_target, split_schema


class _Recorder(StepObserver):
    def __init__(self) -> None:
        self.events: list[str] = []

    def step_started(self, record: StepRecord, index: int, total: int) -> None:
        self.events.append(f"start {record.name}")

    def step_finished(self, record: StepRecord) -> None:
        self.events.append(f"end {record.name} {record.status}")


def test_runner_times_phases_records_failures_and_tells_the_observer() -> None:
    clock = FakeClock()
    report = RevivalReport(snapshots="s", target="t")
    obs = _Recorder()

    def provision(ctx: StepContext) -> None:
        clock.advance(1.5)
        PhaseContext(ctx, report).warn("tool:minisign", "optional tool minisign is missing")

    def verify(ctx: StepContext) -> None:
        clock.advance(0.25)
        raise IntegrityError("bad hash", path="a.tar.zst", expected="x", actual="y")

    with pytest.raises(IntegrityError):
        run_steps([Step(Phase.PROVISION, provision), Step(Phase.VERIFY, verify)], report,
                  [obs], clock)
    assert report.phase_timings() == {"provision": 1.5, "verify": 0.25}
    assert report.rto_s == 1.75
    assert report.phase(Phase.PROVISION).status == StepStatus.WARN
    assert [f.what for f in report.warnings] == ["tool:minisign"]
    failed = report.phase(Phase.VERIFY)
    assert failed.status == StepStatus.FAILED and failed.error["actual"] == "y"
    assert obs.events == ["start provision", "end provision warn", "start verify",
                          "end verify failed"]
    again = RevivalReport.from_dict(report.to_dict())
    assert again.to_dict() == report.to_dict()


def test_prepared_target_is_empty_foreign_content_is_not(tmp_path) -> None:
    target = tmp_path / "node"
    assert not inspect_target(target).exists
    (target / "vault" / "keys" / "trusted").mkdir(parents=True)
    (target / "vault" / "keys" / "trusted" / "f.pub").write_text("x")
    (target / "vault" / "history").mkdir()
    (target / "vault" / "blocklist.json").write_text("{}")
    state = inspect_target(target)
    assert state.empty and "vault/blocklist.json" in state.prepared
    (target / "vault" / "keys" / "node_ed25519").write_text("k")
    (target / "data").mkdir()
    assert inspect_target(target).foreign == ["data", "vault/keys/node_ed25519"]


def test_merge_into_an_existing_target_moves_replaced_files_aside(tmp_path) -> None:
    staging, target = tmp_path / ".node.revive-1", tmp_path / "node"
    (staging / "data").mkdir(parents=True)
    (staging / "data" / "plans.sqlite").write_text("new")
    (staging / "system").mkdir()
    (target / "data").mkdir(parents=True)
    (target / "data" / "plans.sqlite").write_text("old")
    (target / "vault" / "keys" / "trusted").mkdir(parents=True)
    out = move_into_target(staging, target, target_existed=True, stamp="S")
    assert (target / "data" / "plans.sqlite").read_text() == "new"
    assert (target / ".displaced-S" / "data" / "plans.sqlite").read_text() == "old"
    assert out["displaced"] == ["data/plans.sqlite"] and not staging.exists()
    assert (target / "vault" / "keys" / "trusted").is_dir() and (target / "system").is_dir()


def test_schema_migration_creates_what_the_restored_database_lacks(tmp_path) -> None:
    db = tmp_path / "plans.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE items(item_id TEXT PRIMARY KEY, title TEXT)")
    conn.commit()
    conn.close()
    (tmp_path / "schema.sql").write_text(
        "-- plans.sqlite\nCREATE TABLE items(item_id TEXT PRIMARY KEY, title TEXT);\n"
        "CREATE INDEX items_title ON items(title);\n"
        "CREATE TABLE notes(\n  id INTEGER PRIMARY KEY,\n  body TEXT\n);\n\n"
        "-- absent.sqlite\nCREATE TABLE x(y);\n")
    assert list(split_schema((tmp_path / "schema.sql").read_text())) == ["plans.sqlite",
                                                                          "absent.sqlite"]
    applied = migrate_from_schema(tmp_path)
    assert [(a["kind"], a["name"]) for a in applied] == [("index", "items_title"),
                                                         ("table", "notes")]
    assert migrate_from_schema(tmp_path) == []  # idempotent


def test_nothing_to_migrate_without_schema_sql(tmp_path: Path) -> None:
    assert migrate_from_schema(tmp_path) == []


def test_public_surface() -> None:
    import vvtvlib.revival as revival

    assert revival.__all__ == sorted(revival.__all__)
    assert {"revive", "RevivalOptions", "RevivalReport", "Thresholds", "decide"} \
        <= set(revival.__all__)
    assert all(hasattr(revival, name) for name in revival.__all__)
