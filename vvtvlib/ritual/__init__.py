"""M1, the shutdown ritual: pre-checks, freeze, final frame, snapshots, signed manifest,
clean stop, last transmission; a ``dry_run`` rehearsal leaves the station on air.

    journal = run_ritual(StationLayout.at(root), RitualOptions(dry_run=True), observer)
"""

from .acceptance import Criterion, evaluate_run, manifest_gaps
from .config import RitualConfig, default_ritual_toml, load_ritual_config
from .finalframe import reference_frame, reproducibility
from .flow import (
    DRY_STEPS,
    REAL_STEPS,
    Ritual,
    RitualObserver,
    RitualOptions,
    evidence_log,
    run_ritual,
    snapshot_parent,
)
from .freeze import thaw
from .prechecks import CheckResult, Measurements, Verdict, evaluate
from .report import RitualJournal, RunStatus
from .transaction import stale_partials

__all__ = [
    "CheckResult", "Criterion", "DRY_STEPS", "Measurements",
    "REAL_STEPS", "Ritual", "RitualConfig", "RitualJournal", "RitualObserver", "RitualOptions",
    "RunStatus", "Verdict", "default_ritual_toml", "evaluate",
    "evaluate_run", "evidence_log", "load_ritual_config", "manifest_gaps", "reference_frame",
    "reproducibility", "run_ritual", "snapshot_parent", "stale_partials", "thaw",
]
