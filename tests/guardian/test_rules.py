"""Pure rules: comparison, rotation and coverage."""

from __future__ import annotations

from vvtvlib.guardian.compare import compare_content, compare_entry, disk_divergence, new_paths
from vvtvlib.guardian.model import GuardedEntry, Observed
from vvtvlib.guardian.rotation import coverage, slice_for

E = GuardedEntry("vault/snapshots/s/a.bin", "file", 10, 0o444, 1000, 0, 0, "chattr", "ab" * 32)


def obs(**kw: object) -> Observed:
    base = dict(path=E.path, type="file", size=10, mode=0o444, mtime_ns=1000, uid=0, gid=0,
                immutable=True)
    base.update(kw)
    return Observed(**base)  # type: ignore[arg-type]


def kinds(o: Observed | None) -> list[str]:
    return [d.kind for d in compare_entry(E, o)]


def test_unchanged_entry_has_no_divergence() -> None:
    assert kinds(obs()) == []


def test_each_metadata_change_is_named() -> None:
    assert kinds(None) == ["missing"]
    assert kinds(obs(type="dir")) == ["type"]
    assert kinds(obs(size=11)) == ["size"]
    assert kinds(obs(mtime_ns=2000)) == ["mtime"]
    assert kinds(obs(mode=0o644)) == ["mode"]
    assert kinds(obs(uid=1000)) == ["owner"]
    assert kinds(obs(immutable=False)) == ["flag"]


def test_readonly_expectation_does_not_read_flags_but_mode_still_counts() -> None:
    ro = GuardedEntry(E.path, "file", 10, 0o444, 1000, 0, 0, "readonly", E.sha256)
    assert compare_entry(ro, obs(immutable=None)) == []
    assert [d.kind for d in compare_entry(ro, obs(immutable=None, mode=0o644))] == ["mode"]


def test_content_new_and_disk() -> None:
    assert compare_content(E, "ab" * 32) is None
    bad = compare_content(E, "cd" * 32)
    assert bad is not None and bad.expected == "ab" * 32 and bad.actual == "cd" * 32
    assert [d.path for d in new_paths(["a", "b"], ["a", "b", "c"])] == ["c"]
    assert disk_divergence("vault", 50.0, 10.0) is None
    d = disk_divergence("vault", 5.0, 10.0)
    assert d is not None and d.kind == "disk" and d.path == "vault"


def test_rotation_covers_every_file_within_n_cycles() -> None:
    files = [f"f{i:02d}" for i in range(10)]
    for n in (1, 3, 4, 10, 16):
        cursor, seen = 0, set()
        for _ in range(n):
            part = slice_for(files, cursor, n)
            seen.update(part)
            cursor = (cursor + len(part)) % len(files)
        assert seen == set(files), n


def test_coverage_counts_files_hashed_within_the_window() -> None:
    files = ["a", "b", "c", "d"]
    assert coverage(files, {"a": 1, "b": 2}, cycle=2, sample=4) == 0.5
    assert coverage(files, {"a": 1, "b": 2, "c": 3, "d": 4}, cycle=4, sample=4) == 1.0
    # a file last hashed 4 cycles ago has left a window of 4
    assert coverage(files, {"a": 1, "b": 5, "c": 5, "d": 5}, cycle=5, sample=4) == 0.75
    assert coverage([], {}, 1, 4) == 1.0
