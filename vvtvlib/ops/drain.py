"""``vvtvctl ops drain|undrain``: maintenance of one service without dropping the API.

A drain is the flag ``drain.<service>`` (written and audited like ``flags set``); running
services apply it within a second:

    pool        new requests get ``DRAINED`` (HTTP 503) or ``drain.pool_fallback``'s answer;
                requests in flight finish
    api         pool-api answers /v1/infer with ``DRAINED`` (503); health and usage stay up
    streaming   the realizer takes no new job (no new renditions); the broadcast goes on
    planner     the planner takes no new cycle; the one in flight finishes

For the station's workers the drain then waits until the drained worker has nothing in
progress (``--wait``), so "drained" means "idle", as the ritual's freeze does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import StationNotRunning, UsageError, VVTVError
from vvtvlib.core.features import flags_path
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.wait import wait_until

from .flags import FlagChange, set_flag

SERVICES = ("pool", "api", "streaming", "planner")
WORKER_OF = {"planner": "planner", "streaming": "realizer"}


@dataclass
class DrainResult:
    service: str
    drained: bool
    reason: str
    changes: list[FlagChange]
    idle: bool | None = None  # the worker had nothing in progress when we returned

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(service: str) -> None:
    if service not in SERVICES:
        raise UsageError(f"--service is one of {', '.join(SERVICES)}, not {service!r}",
                         actual=service)


def drain(root: str | Path | None, service: str, reason: str, *, fallback: str | None = None,
          wait_s: float = 30.0, clock: Clock = SYSTEM_CLOCK) -> DrainResult:
    _check(service)
    if not reason.strip():
        raise UsageError("--reason is required: say why the service is drained")
    if fallback is not None and service != "pool":
        raise UsageError("--fallback applies to --service pool only")
    path = flags_path(root)
    changes = [set_flag(path, "drain.reason", reason, reason=reason, clock=clock)]
    if fallback is not None:
        changes.append(set_flag(path, "drain.pool_fallback", fallback, reason=reason,
                                clock=clock))
    changes.append(set_flag(path, f"drain.{service}", True, reason=reason, clock=clock))
    idle = _wait_idle(root, service, wait_s, clock) if service in WORKER_OF else None
    return DrainResult(service, True, reason, changes, idle)


def undrain(root: str | Path | None, service: str, reason: str = "maintenance over", *,
            clock: Clock = SYSTEM_CLOCK) -> DrainResult:
    _check(service)
    path = flags_path(root)
    changes = [set_flag(path, f"drain.{service}", False, reason=reason, clock=clock)]
    return DrainResult(service, False, reason, changes)


def _wait_idle(root: str | Path | None, service: str, wait_s: float, clock: Clock
               ) -> bool | None:
    """Until the drained worker has nothing in progress; None when the station is down."""
    from vvtvlib.station import api as station

    worker = WORKER_OF[service]
    layout = StationLayout.at(root)
    try:
        if not station.status(layout).up:
            return None
    except VVTVError:
        return None

    def idle() -> bool:
        try:
            st = station.status(layout)
        except StationNotRunning:
            return True
        applied = (st.features or {}).get("flags", {}).get(f"drain.{service}")
        return bool(applied) and st.in_progress_by_worker.get(worker, 0) == 0
    wait_until(idle, wait_s, 0.2, clock=clock,
               what=f"the {worker} to finish its job in flight")
    return True
