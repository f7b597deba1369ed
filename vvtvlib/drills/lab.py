"""The lab folder that drills provision stations in, and how to clear it safely.

A drill that failed half-way may leave a station up, a guardian running and snapshots
immutable; clearing stops each, releases the flags, then removes the folder.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from vvtvlib.core.errors import VVTVError
from vvtvlib.core.layout import StationLayout


def station_roots(lab: Path) -> list[Path]:
    """Every station root under ``lab`` (a drill may make several: source and revived)."""
    if not lab.is_dir():
        return []
    return sorted({p.parent.parent for p in lab.glob("**/system/configs")})


def clear_lab(lab: Path) -> None:
    from vvtvlib.guardian import GuardianPaths, stop_guardian
    from vvtvlib.hibernation import release_immutability
    from vvtvlib.station.supervisor import station_down

    for root in station_roots(lab):
        paths = GuardianPaths.at(root)
        # Each is best effort: a station already down or a vault never locked is fine.
        with contextlib.suppress(VVTVError, OSError):
            stop_guardian(paths, timeout_s=10)
        with contextlib.suppress(VVTVError, OSError):
            station_down(StationLayout.at(root), timeout_s=20)
        with contextlib.suppress(VVTVError, OSError):
            release_immutability(paths, None)
    for p in lab.rglob("*") if lab.exists() else ():
        with contextlib.suppress(OSError):
            if not p.is_symlink():
                p.chmod(0o700 if p.is_dir() else 0o600)
    shutil.rmtree(lab, ignore_errors=True)
    if lab.exists():
        raise VVTVError(f"could not remove {lab} completely (an immutable file outside a vault?)",
                        path=lab)
