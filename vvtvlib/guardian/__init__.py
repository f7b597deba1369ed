"""The hibernation guardian (``sleepguardd``).

Concepts: a **baseline** (``baseline``) records every guarded path under ``vault/snapshots`` and
``vault/manifests`` as lockdown left it, anchored in the signed manifest (``trust``). A **cycle**
(``cycle``) stats every path, finds new and missing ones, re-hashes a **rotating 1/N slice**
(``rotation``) and checks free disk; ``compare`` holds the pure rules. The **daemon** loop
(``daemon``) appends one hash-chained line per cycle to ``vault/sleepguard_report.jsonl`` and,
between cycles, watches the folders (``watch``) so a successful write is reported at once.
``flags`` reads and sets the immutable inode flag; ``process`` runs the guardian detached.
"""

from __future__ import annotations

from .baseline import Baseline, build_baseline, guarded_paths, load_baseline, write_baseline
from .cycle import run_cycle
from .daemon import Guardian, GuardianRun, GuardianStart, run_guardian
from .flags import flags_supported, is_immutable, make_readonly, set_immutable
from .model import CycleReport, Divergence, GuardedEntry, WatchAlert
from .options import GuardianOptions, load_options
from .paths import GuardianPaths
from .process import running_pid, start_detached, stop_guardian
from .rotation import RotationState, coverage, slice_for
from .statelog import (
    AWAKE,
    HIBERNATING,
    StateLine,
    append_state,
    current_state,
    pinned_baseline,
)
from .trust import pinned_keys, verify_manifests

__all__ = [
    "AWAKE", "HIBERNATING", "Baseline", "CycleReport", "Divergence", "GuardedEntry", "Guardian",
    "GuardianOptions", "GuardianPaths", "GuardianRun", "GuardianStart", "RotationState",
    "StateLine", "WatchAlert", "append_state", "build_baseline", "coverage", "current_state",
    "flags_supported", "guarded_paths", "is_immutable", "load_baseline", "load_options",
    "make_readonly", "pinned_baseline", "pinned_keys", "run_cycle", "run_guardian",
    "running_pid", "set_immutable", "slice_for", "start_detached", "stop_guardian",
    "verify_manifests", "write_baseline",
]
