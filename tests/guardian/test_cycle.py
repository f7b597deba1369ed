"""Guardian cycles on a locked lab snapshot: no false alarm, the detection matrix, reading
without writing, rotation that survives a restart, the byte budget."""

from __future__ import annotations

import os

import pytest

from tests.plugins.station import FakeStation, LabSnapshot
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.evidence import verify_chain
from vvtvlib.drills.tamper import EXPECTED_KIND, inject
from vvtvlib.guardian import (
    Guardian,
    GuardianOptions,
    GuardianPaths,
    is_immutable,
    load_baseline,
    set_immutable,
)

Locked = tuple[LabSnapshot, FakeStation]


def guardian(snap: LabSnapshot, **opts: object) -> Guardian:
    options = GuardianOptions(**{"sample": 4, "watch": False, **opts})  # type: ignore[arg-type]
    return Guardian(GuardianPaths(snap.layout), options, clock=FakeClock())


def test_clean_cycles_report_nothing_and_reach_full_coverage(locked: Locked) -> None:
    snap, _ = locked
    run = guardian(snap).run(8)
    assert run.ok and [c.divergences for c in run.cycles] == [[]] * 8
    assert [c.coverage for c in run.cycles][3:] == [1.0] * 5
    assert all(c.files_stated == run.start.entries for c in run.cycles)
    paths = GuardianPaths(snap.layout)
    chain = verify_chain(paths.report)
    assert chain.ok and chain.lines == 8
    for f in (paths.report, paths.rotation, paths.baseline):
        assert os.stat(f).st_mode & 0o777 == 0o600, f


@pytest.mark.parametrize("kind", ["touch", "chmod", "unflag", "new_file", "delete"])
def test_metadata_tamper_is_reported_in_the_next_cycle(locked: Locked, kind: str) -> None:
    snap, _ = locked
    g = guardian(snap)
    assert g.cycle().divergences == []
    t = inject(g.paths, kind)
    report = g.cycle()
    hits = [d for d in report.divergences if d.path == t.path]
    assert EXPECTED_KIND[kind] in {d.kind for d in hits}, report.to_record()


def test_flipped_byte_with_mtime_restored_is_found_within_n_cycles(locked: Locked) -> None:
    snap, _ = locked
    g = guardian(snap, sample=4)
    g.cycle()
    t = inject(g.paths, "flip_byte")
    caught = None
    for _ in range(4):
        report = g.cycle()
        if any(d.path == t.path and d.kind == "content" for d in report.divergences):
            caught = report.cycle
            break
    assert caught is not None, "content change not found within N cycles"
    # only the content changed: the report names nothing else for that path
    assert {d.kind for d in report.divergences if d.path == t.path} == {"content"}
    # once known bad, it is re-hashed and reported every cycle
    assert any(d.kind == "content" for d in g.cycle().divergences)


def test_disk_below_threshold_is_reported(locked: Locked) -> None:
    snap, _ = locked
    report = guardian(snap, min_free_pct=100.0).cycle()
    assert [d.kind for d in report.divergences] == ["disk"]
    assert report.divergences[0].path == "vault"


def test_cycles_never_change_what_they_guard(locked: Locked) -> None:
    snap, _ = locked
    paths = GuardianPaths(snap.layout)
    baseline, _ = load_baseline(paths.baseline)
    files = [paths.root / e.path for e in baseline.entries if e.type == "file"]
    # An atime older than the mtime: with relatime, any plain read would move it.
    control = paths.root / "control_read.bin"
    control.write_bytes(b"x" * 4096)
    for f in [*files, control]:
        st = os.stat(f)
        was = is_immutable(f)
        set_immutable(f, False)
        os.utime(f, ns=(st.st_mtime_ns - 10**10, st.st_mtime_ns))
        if was:
            set_immutable(f, True)
    control.read_bytes()
    assert os.stat(control).st_atime_ns > os.stat(control).st_mtime_ns - 10**10, \
        "this filesystem does not update atime on read: the check below would prove nothing"
    before = {e.path: os.lstat(paths.root / e.path) for e in baseline.entries}
    guardian(snap, sample=1).run(2)
    after = {e.path: os.lstat(paths.root / e.path) for e in baseline.entries}
    for p, st in before.items():
        a = after[p]
        assert (st.st_mtime_ns, st.st_ctime_ns, st.st_atime_ns, st.st_mode, st.st_size) == \
               (a.st_mtime_ns, a.st_ctime_ns, a.st_atime_ns, a.st_mode, a.st_size), p


def test_a_restart_continues_the_rotation(locked: Locked) -> None:
    snap, _ = locked
    first = guardian(snap, sample=4)
    r1 = first.run(2)
    second = guardian(snap, sample=4)
    r2 = second.run(2)
    assert second.started is not None and second.started.resumed_at_cycle == 2
    assert [c.cycle for c in r2.cycles] == [3, 4]
    hashed = {p for c in r1.cycles + r2.cycles for p in c.hashed}
    assert hashed == set(load_baseline(GuardianPaths(snap.layout).baseline)[0].files)
    assert r2.cycles[-1].coverage == 1.0


def test_byte_budget_bounds_a_cycle_but_always_hashes_one_file(locked: Locked) -> None:
    snap, _ = locked
    report = guardian(snap, sample=1, byte_budget=1).cycle()
    assert report.files_hashed == 1 and report.budget_exhausted
    assert report.divergences == []


def test_an_unknown_or_irreversible_tamper_is_a_usage_error(locked: Locked) -> None:
    from vvtvlib.core.errors import UsageError
    from vvtvlib.drills.tamper import Tamper, revert

    paths = GuardianPaths(locked[0].layout)
    with pytest.raises(UsageError, match="unknown tamper 'melt'") as err:
        inject(paths, "melt")
    assert err.value.exit_code == 2
    with pytest.raises(UsageError, match="a delete tamper cannot be reverted"):
        revert(paths, Tamper("delete", "vault/snapshots/gone"))
