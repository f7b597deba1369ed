"""Starting the guardian (trust anchor, pinned baseline), the watcher, the command line and
the detached process."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from typer.testing import CliRunner

from tests.plugins.station import FakeStation, LabSnapshot
from vvtvlib.cli import sleepguardd
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import IntegrityError, SignatureError
from vvtvlib.drills.tamper import inject
from vvtvlib.guardian import (
    Guardian,
    GuardianOptions,
    GuardianPaths,
    running_pid,
    set_immutable,
    start_detached,
    stop_guardian,
)
from vvtvlib.guardian.watch import WatchWaiter

Locked = tuple[LabSnapshot, FakeStation]


def test_unlocked_vault_gets_a_pinned_baseline_of_its_own(lab: LabSnapshot) -> None:
    paths = GuardianPaths(lab.layout)
    g = Guardian(paths, GuardianOptions(watch=False), clock=FakeClock())
    assert g.start().established
    again = Guardian(paths, GuardianOptions(watch=False), clock=FakeClock()).start()
    assert not again.established and again.baseline_sha256 == g.started.baseline_sha256  # type: ignore[union-attr]


def test_refuses_to_guard_a_snapshot_whose_signature_fails(lab: LabSnapshot) -> None:
    manifest = lab.folder / "last_manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"generation":1', b'"generation":2'))
    with pytest.raises(SignatureError):
        Guardian(GuardianPaths(lab.layout), clock=FakeClock()).start()


def test_refuses_without_a_trusted_key(lab: LabSnapshot) -> None:
    for p in [*lab.layout.trusted_keys.glob("*.pub"), lab.layout.foundation_pub]:
        p.unlink()
    with pytest.raises(SignatureError, match="no trusted public key"):
        Guardian(GuardianPaths(lab.layout), clock=FakeClock()).start()


def test_refuses_a_baseline_edited_after_lockdown(locked: Locked) -> None:
    snap, _ = locked
    paths = GuardianPaths(snap.layout)
    data = json.loads(paths.baseline.read_text())
    data["entries"] = data["entries"][1:]  # forget one path
    paths.baseline.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="changed after"):
        Guardian(paths, clock=FakeClock()).start()


def test_watcher_reports_a_successful_write_at_once(locked: Locked) -> None:
    snap, _ = locked
    paths = GuardianPaths(snap.layout)
    stop = threading.Event()
    seen: list[tuple[float, dict[str, object]]] = []
    g = Guardian(paths, GuardianOptions(interval_s=4, sample=4), stop=stop,
                 waiter=WatchWaiter(paths.guarded_roots, stop, debounce_ms=50),
                 observer=lambda entry: seen.append((time.monotonic(), entry)))
    g.start()
    g.cycle()
    target = snap.folder / "final_frame.json"

    def write_later() -> None:
        time.sleep(0.3)
        set_immutable(target, False)
        with open(target, "a") as fh:
            fh.write(" ")

    t0 = time.monotonic()
    threading.Thread(target=write_later, daemon=True).start()
    alerts = g.wait(4)
    assert alerts, "no alert while waiting"
    watch = [(t, e) for t, e in seen if e["type"] == "watch"]
    assert watch and watch[0][0] - t0 < 2.5  # raised at once, not at the end of the wait
    assert any(d.path == paths.rel(target) for a in alerts for d in a.divergences)
    last = json.loads(paths.report.read_text().splitlines()[-1])
    assert last["type"] == "watch" and last["alert"] is True


def test_cli_once_exits_0_when_clean_and_1_on_a_divergence(locked: Locked) -> None:
    snap, _ = locked
    runner = CliRunner()
    args = ["--root", str(snap.layout.root), "--once", "--sample", "4", "--json"]
    ok = runner.invoke(sleepguardd.app, args)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["divergences"] == []
    t = inject(GuardianPaths(snap.layout), "chmod")
    bad = runner.invoke(sleepguardd.app, args)
    assert bad.exit_code == 1
    assert t.path in {d["path"] for d in json.loads(bad.stdout)["divergences"]}
    low = runner.invoke(sleepguardd.app, ["--root", str(snap.layout.root), "--cycles", "2",
                                          "--interval", "0", "--min-free-pct", "100", "--json"])
    assert low.exit_code == 1
    assert [c["divergences"][0]["kind"] for c in json.loads(low.stdout)["cycles"]] == ["disk"] * 2


def test_detached_guardian_starts_with_a_pidfile_and_stops(locked: Locked) -> None:
    snap, _ = locked
    paths = GuardianPaths(snap.layout)
    started = start_detached(paths, interval_s=0.2, sample=4)
    try:
        assert running_pid(paths) == started.pid
        assert os.stat(paths.pidfile).st_mode & 0o777 == 0o600
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if paths.report.exists() and len(paths.report.read_text().splitlines()) >= 2:
                break
            time.sleep(0.1)
        assert len(paths.report.read_text().splitlines()) >= 2
    finally:
        assert stop_guardian(paths) == started.pid
    assert running_pid(paths) is None and not paths.pidfile.exists()
