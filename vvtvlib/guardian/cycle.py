"""One guardian cycle: stat every guarded path, find new and missing ones, re-hash the rotating
slice (plus any file whose metadata or content already diverged), check free disk.

The cycle reads only. Its duration is measured with a real performance counter even when the
injected clock is fake: the clock paces cycles, the counter measures their cost.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

from .baseline import Baseline, guarded_paths
from .compare import compare_content, compare_entry, disk_divergence, new_paths
from .fsread import hash_file, observe
from .model import KINDS, CycleReport, Divergence
from .options import GuardianOptions
from .paths import GuardianPaths
from .rotation import RotationState, coverage, slice_for


def _never() -> bool:
    return False


def run_cycle(paths: GuardianPaths, baseline: Baseline, state: RotationState,
              options: GuardianOptions, *, should_stop: Callable[[], bool] = _never,
              disk_usage: Callable[[str], tuple[int, int, int]] | None = None) -> CycleReport:
    """Run one cycle; ``state`` is advanced in place (the caller persists it)."""
    started = time.perf_counter()
    state.cycle += 1
    cycle = state.cycle
    entries = baseline.by_path
    divergences: list[Divergence] = []
    suspects: list[str] = []  # files whose metadata diverged: hash them now, outside the slice

    for rel in sorted(entries):
        exp = entries[rel]
        obs = observe(paths.root, rel, read_flag=exp.immutability == "chattr")
        found = compare_entry(exp, obs)
        divergences.extend(found)
        if found and exp.type == "file" and obs is not None and obs.type == "file":
            suspects.append(rel)
    divergences.extend(new_paths(entries, guarded_paths(paths)))

    files = baseline.files
    planned = slice_for(files, state.cursor, options.sample)
    extra = [p for p in dict.fromkeys([*state.content_bad, *suspects]) if p not in planned]
    hashed: list[str] = []
    bytes_hashed = 0
    advanced = 0
    budget_exhausted = interrupted = False

    def hash_one(rel: str) -> None:
        nonlocal bytes_hashed
        full = paths.root / rel
        if not full.is_file() or full.is_symlink():
            return  # already reported as missing or of another type
        try:
            digest, n = hash_file(full)
        except OSError as exc:
            divergences.append(Divergence(rel, "unreadable", "readable", exc.strerror or str(exc)))
            return
        bytes_hashed += n
        hashed.append(rel)
        state.last_hashed[rel] = cycle
        bad = compare_content(entries[rel], digest)
        if bad is not None:
            state.content_bad[rel] = digest
            divergences.append(bad)
        else:
            state.content_bad.pop(rel, None)

    for rel in extra:
        if should_stop():
            interrupted = True
            break
        hash_one(rel)
    for rel in planned:
        if interrupted or should_stop():
            interrupted = True
            break
        if options.byte_budget and advanced and bytes_hashed >= options.byte_budget:
            budget_exhausted = True
            break
        hash_one(rel)
        advanced += 1
    if files:
        state.cursor = (state.cursor + advanced) % len(files)

    usage = (disk_usage or _disk_usage)(str(paths.layout.vault))
    total, _used, free = usage
    free_pct = 100.0 * free / total if total else 0.0
    disk = disk_divergence(paths.rel(paths.layout.vault), free_pct, options.min_free_pct)
    if disk is not None:
        divergences.append(disk)

    divergences = _dedupe(divergences)
    return CycleReport(cycle=cycle, files_stated=len(entries), files_hashed=len(hashed),
                       bytes_hashed=bytes_hashed, duration_s=time.perf_counter() - started,
                       coverage=coverage(files, state.last_hashed, cycle, options.sample),
                       sample=options.sample, disk_free_pct=free_pct,
                       budget_exhausted=budget_exhausted, interrupted=interrupted,
                       hashed=hashed, divergences=divergences)


def _disk_usage(path: str) -> tuple[int, int, int]:
    u = shutil.disk_usage(path)
    return u.total, u.used, u.free


def _dedupe(items: list[Divergence]) -> list[Divergence]:
    seen: dict[tuple[str, str], Divergence] = {}
    for d in items:
        seen.setdefault((d.path, d.kind), d)
    return sorted(seen.values(), key=lambda d: (d.path, KINDS.index(d.kind)
                                                if d.kind in KINDS else len(KINDS)))
