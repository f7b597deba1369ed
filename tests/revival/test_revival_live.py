"""Revivals of the session's real ritual snapshot that the acceptance features do not cover:
a prepared new node (trust anchor installed, no --pubkey), --force into a used root, and the
lineage after a revival (the same snapshot again is a rollback)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.plugins.station import CLIP_CACHE
from tests.plugins.system import need_tool
from vvtvlib.core.errors import VVTVError
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.steps import StepStatus
from vvtvlib.drills.rehearsal import prepare_source
from vvtvlib.revival import (
    Phase,
    RevivalOptions,
    revive,
)
from vvtvlib.station.control import status
from vvtvlib.vault.history import RollbackRefused, lineage_problems, read_history

pytestmark = pytest.mark.station


def test_prepared_node_then_forced_rerun_is_a_refused_rollback(revival_source,
                                                                tmp_path) -> None:
    target = tmp_path / "node"
    trusted = StationLayout.at(target).trusted_keys
    trusted.mkdir(parents=True)
    shutil.copy(revival_source.pubkey, trusted / "foundation.pub")
    (target / "notes.txt").write_text("operator notes")  # foreign: needs --force
    report = revive(RevivalOptions(snapshots=revival_source.snapshot, target=target,
                                   force=True, report_path=tmp_path / "r.json",
                                   leave_running=True))
    try:
        assert report.succeeded and report.trust["source"] == "pinned keys"
        assert report.phase(Phase.CONTINUITY).status == StepStatus.SKIPPED
        st = status(target)
        assert st.up and st.encoder_running and not st.queue_frozen
        assert not st.paused["planner"] and not st.paused["realizer"]
        assert st.discovery_hold_until and st.discovery_hold_until > st.checked_utc
        assert (target / "notes.txt").read_text() == "operator notes"
    finally:
        from vvtvlib.station.supervisor import station_down

        station_down(target)
    history = read_history(StationLayout.at(target).history)
    assert [r.generation for r in history] == [1, 2] and lineage_problems(history) == []
    with pytest.raises(VVTVError) as err:
        revive(RevivalOptions(snapshots=revival_source.snapshot, target=target, force=True,
                              report_path=tmp_path / "r2.json"))
    assert isinstance(err.value, RollbackRefused) and err.value.journal is not None
    assert json.loads((tmp_path / "r2.json").read_text())["failure"]["phase"] == "verify"


def test_nginx_rtmp_station_revives_with_continuity(tmp_path) -> None:
    """The other station profile: HLS made and served by nginx-rtmp on both nodes."""
    need_tool("nginx")
    src = prepare_source(tmp_path / "source", items=2, clip_seconds=12, clip_cache=CLIP_CACHE,
                         profile="nginx-rtmp")
    report = revive(RevivalOptions(snapshots=src.snapshot, target=tmp_path / "node",
                                   pubkey=src.pubkey, prove_continuity=True, strict=True,
                                   report_path=tmp_path / "r.json", leave_running=False))
    assert report.succeeded and report.continuity and report.continuity["passed"]
    assert report.phase(Phase.SANITY).detail["status"]["profile"] == "nginx-rtmp"
    assert report.versions["node"]["nginx"] == report.versions["manifest"]["nginx"]
