"""Freeze and thaw (seed M1 step 2): pause the workers, drain, freeze the queue.

Order matters: pausing first means no new job starts, so ``in_progress`` can only go down;
the queue is frozen once nothing is left running. ``thaw`` reverses every flag and is safe to
call any number of times (the control commands are idempotent).
"""

from __future__ import annotations

import time
from typing import Any

from vvtvlib.core.errors import TimedOut
from vvtvlib.core.layout import StationLayout

from .prechecks import WORKERS


def freeze(layout: StationLayout, timeout_s: float) -> dict[str, Any]:
    """Pause, wait for ``in_progress = 0``, freeze. On timeout: thaw, then ``TimedOut``."""
    from vvtvlib.station import control

    for worker in WORKERS:
        control.set_worker_paused(layout, worker, True)
    t0 = time.monotonic()
    try:
        drained = control.wait_empty(layout, timeout_s)
    except TimedOut:
        thaw(layout)
        raise
    if drained is False:
        thaw(layout)
        raise TimedOut(f"jobs still in progress after {timeout_s:g} s; the station was thawed",
                       expected=0, actual="in progress")
    waited = time.monotonic() - t0
    control.set_queue_frozen(layout, True)
    return {"paused": list(WORKERS), "queue_frozen": True, "drain_wait_s": round(waited, 3)}


def thaw(layout: StationLayout) -> dict[str, Any]:
    """Every worker resumed and the queue unfrozen."""
    from vvtvlib.station import control

    control.set_queue_frozen(layout, False)
    for worker in WORKERS:
        control.set_worker_paused(layout, worker, False)
    return {"resumed": list(WORKERS), "queue_frozen": False}
