"""M2 hibernation: ``lockdown`` and ``resume``.

``lockdown`` (``lockdown.py``) takes a station whose ritual has run to a guarded hibernation:
verified snapshot, services down, keys rotated (``keys.py``), databases read-only, snapshots
and manifests immutable (``immutability.py``), the guardian's baseline and a ``hibernating``
state line. ``resume`` (``resume.py``) proves the vault and the databases unchanged
(``dbstate.py``), reverses the flags and brings the station back in the seed's safe order
through a small port (``services.py``). Both run as journaled checklists on the core step
runner (``report.py``); a failing step raises its error with the report attached
(``exc.journal``).
"""

from __future__ import annotations

from .dbstate import StateProof, compare_state, prove_state
from .immutability import apply_immutability, release_immutability
from .keys import (
    KeyStatus,
    Rotation,
    key_statuses,
    rotate_key,
    verify_endorsement,
    write_key_meta,
)
from .lockdown import LockdownOptions, journal_path, lockdown
from .report import ChecklistReport
from .resume import ResumeOptions, health_problems, resume
from .services import Station, StationPort
from .snapshot import VerifiedSnapshot, newest_verified_snapshot, verify_folder

__all__ = [
    "ChecklistReport", "KeyStatus", "LockdownOptions",
    "ResumeOptions", "Rotation", "StateProof", "Station", "StationPort",
    "VerifiedSnapshot", "apply_immutability", "compare_state", "health_problems",
    "journal_path", "key_statuses", "lockdown", "newest_verified_snapshot", "prove_state",
    "release_immutability", "resume", "rotate_key", "verify_endorsement", "verify_folder",
    "write_key_meta",
]
