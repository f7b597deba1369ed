"""Station control as in the seed's runbooks: status, pause/resume, queue freeze,
broadcaster start/stop, discovery hold, wait-until-empty.

Flags persist in ``data/control.sqlite`` (so they survive a crash) and commands are
idempotent. When the station is up, a flag change is pushed to the supervisor and the call
returns once it is in force. Commands that need the running station raise
``StationNotRunning``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from vvtvlib.core import errors
from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.errors import (
    DependencyMissing,
    StationNotRunning,
    TimedOut,
    UsageError,
    VVTVError,
)
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.wait import wait_until

from .config import load_station_config
from .db import opened
from .replies import EmergencyInjected, EncoderRestarted, IngestStopped
from .runtime import (
    STARTUP_ERROR,
    EncoderStatus,
    RuntimeInfo,
    SupervisorStatus,
    control_token,
    read_runtime,
    supervisor_alive,
)
from .state import WORKERS, ControlStore, Position, position_on_air


def as_layout(layout: StationLayout | str | Path) -> StationLayout:
    return layout if isinstance(layout, StationLayout) else StationLayout.at(layout)


SUMMARY_FIELDS = ("up", "profile", "station_id", "hls_url", "status_url", "encoder_running",
                  "paused", "queue_frozen", "discovery_hold_until", "queue_buffer_s",
                  "broadcaster_desired", "playing", "worker_errors")


@dataclass
class StationStatus:
    up: bool
    profile: str
    station_id: str
    root: str
    queue_buffer_s: float
    queue_entries: int
    paused: dict[str, bool]
    queue_frozen: bool
    discovery_hold_until: str | None
    in_progress: int
    in_progress_by_worker: dict[str, int]
    encoder_running: bool
    encoder_uptime_s: float
    encoder_restarts: int
    encoder_last_restart_utc: str | None
    encoder_run_id: str | None
    encoder_args: list[str] | None
    segment_age_s: float | None
    playing: dict[str, Any] | None
    resume: dict[str, Any] | None
    broadcaster_desired: str
    hls_url: str | None
    status_url: str | None
    generation: int
    applied_generation: int | None
    pid: int | None
    nginx: dict[str, Any] | None = None
    worker_errors: dict[str, str] = field(default_factory=dict)
    # the feature flags the running supervisor applies (path, error, reloads, flags)
    features: dict[str, Any] | None = None
    checked_utc: str = field(default_factory=utc_iso)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The fields a report keeps of a status (``SUMMARY_FIELDS``)."""
        data = self.to_dict()
        return {k: data[k] for k in SUMMARY_FIELDS}

    @property
    def flags_applied(self) -> bool:
        return self.applied_generation is not None and self.applied_generation >= self.generation


def queue_buffer(layout: StationLayout, at: Position | None) -> tuple[float, int]:
    """Seconds of programming left from the playing (or resume) position to the queue end."""
    pos = at.queue_position if at else 0
    offset = at.offset_s if at else 0.0
    try:
        with opened(layout.db("queue"), readonly=True) as conn:
            total, n = conn.execute(
                "SELECT COALESCE(SUM(duration_s), 0), COUNT(*) FROM queue "
                "WHERE status='queued' AND position >= ?", (pos,)).fetchone()
    except DependencyMissing:
        return 0.0, 0
    return max(0.0, float(total) - offset), int(n)


def _runtime(info: RuntimeInfo | None) -> SupervisorStatus | None:
    """The running supervisor's ``/status``, read back into its record (None: no answer)."""
    if info is None:
        return None
    try:
        resp = httpx.get(info.status_url, timeout=3)
        resp.raise_for_status()
        return SupervisorStatus.from_dict(resp.json())
    except (httpx.HTTPError, ValueError, TypeError, KeyError, AttributeError):
        return None


def status(layout: StationLayout | str | Path) -> StationStatus:
    """What the station is doing; works (with ``up=False``) when it is down."""
    layout = as_layout(layout)
    store = ControlStore(layout)
    if not store.exists():
        raise DependencyMissing(f"{layout.root} is not an initialised station "
                                "(run `vvtvctl station init`)", path=layout.root)
    cfg = load_station_config(layout)
    kv = store.get_many()
    flags = store.flags()
    info = read_runtime(layout) if supervisor_alive(layout) else None
    rt = _runtime(info)
    playing = kv.get("playing")
    stored_enc = kv.get("encoder") or {}
    enc = rt.encoder if rt else EncoderStatus(
        restarts=int(stored_enc.get("restarts", 0)),
        last_restart_utc=stored_enc.get("last_restart_utc"))
    buffer_s, n = queue_buffer(layout, position_on_air(kv))
    return StationStatus(
        up=rt is not None, profile=cfg.station.profile, station_id=cfg.station.id,
        root=str(layout.root), queue_buffer_s=round(buffer_s, 3), queue_entries=n,
        paused=dict(flags.paused), queue_frozen=flags.queue_frozen,
        discovery_hold_until=flags.discovery_hold_until,
        in_progress=rt.in_progress if rt else 0,
        in_progress_by_worker=(rt.in_progress_by_worker if rt else None)
        or dict.fromkeys(WORKERS, 0),
        encoder_running=enc.running, encoder_uptime_s=enc.uptime_s,
        encoder_restarts=enc.restarts, encoder_last_restart_utc=enc.last_restart_utc,
        encoder_run_id=enc.run_id, encoder_args=None if enc.args is None else list(enc.args),
        segment_age_s=rt.segment_age_s if rt else None,
        playing=playing, resume=kv.get("resume"),
        broadcaster_desired=flags.broadcaster_desired,
        hls_url=info.hls_url if info and rt else None,
        status_url=info.status_url if info and rt else None,
        generation=flags.generation,
        applied_generation=rt.applied_generation if rt else None,
        pid=info.pid if info and rt else None, nginx=rt.nginx if rt else None,
        worker_errors=(rt.worker_errors if rt else None) or {},
        features=rt.features if rt else None,
    )


# ---------------------------------------------------------------------- talking to it
def _require_up(layout: StationLayout) -> RuntimeInfo:
    """The running supervisor's runtime record, or ``StationNotRunning``."""
    info = read_runtime(layout) if supervisor_alive(layout) else None
    if info is None:
        raise StationNotRunning(f"the station at {layout.root} is not running "
                                "(start it with `vvtvctl station up`)", path=layout.root)
    return info


require_up = _require_up  # public: the API refuses before it writes anything


def _post(layout: StationLayout, action: str, body: dict[str, Any] | None = None,
          timeout_s: float = 30.0) -> dict[str, Any]:
    info = _require_up(layout)
    token = control_token(layout) or ""
    try:
        resp = httpx.post(f"{info.control_url}/{action}", json=body or {},
                          headers={"X-VVTV-Token": token}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise StationNotRunning(f"the station supervisor did not answer: {exc}") from exc
    data: dict[str, Any] = resp.json()
    if resp.status_code == 409:  # a lab error raised by the supervisor: same class here
        cls = getattr(errors, str(data.get("error")), VVTVError)
        if not (isinstance(cls, type) and issubclass(cls, VVTVError)):
            cls = VVTVError
        raise cls(str(data.get("message")))
    if resp.status_code == 400:
        raise UsageError(str(data.get("error")))
    if resp.status_code != 200:
        raise VVTVError(f"the station refused {action}: {data.get('error')}")
    return data


@dataclass(frozen=True)
class ControlChange:
    """One control flag set: whether it changed, the generation it bumped to, whether the
    running supervisor applied it (``station_up``), and the flag as set (``flag: value``,
    with the ``worker`` it concerns)."""

    command: str
    changed: bool
    generation: int
    applied: bool
    station_up: bool
    flag: str
    value: bool | str | None
    worker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"command": self.command, "changed": self.changed,
                               "generation": self.generation, "applied": self.applied,
                               "station_up": self.station_up}
        if self.worker is not None:
            out["worker"] = self.worker
        out[self.flag] = self.value
        return out


def _set_flags(layout: StationLayout, values: dict[str, Any], command: str,
               require_up: bool) -> tuple[bool, int, bool, bool]:
    """Write ``values`` (JSON values of ``control.sqlite``) and push them to a running
    supervisor: (changed, generation, applied, station up)."""
    store = ControlStore(layout)
    if not store.exists():
        raise DependencyMissing(f"{layout.root} is not an initialised station", path=layout.root)
    up = supervisor_alive(layout)
    if require_up and not up:
        _require_up(layout)
    current = store.get_many()
    changed = any(current.get(k) != v for k, v in values.items())
    gen = store.set(values, command=command, detail=values, bump=changed) if changed \
        else int(current.get("generation", 0))
    applied = None
    if up:
        applied = _post(layout, "reload").get("applied_generation")
    return changed, gen, applied is not None and applied >= gen, up


def set_worker_paused(layout: StationLayout | str | Path, worker: str, paused: bool, *,
                      require_up: bool = False) -> ControlChange:
    layout = as_layout(layout)
    if worker not in WORKERS:
        raise UsageError(f"unknown worker {worker!r} (choose {', '.join(WORKERS)})")
    flags = ControlStore(layout).flags()
    new = {**flags.paused, worker: paused}
    command = f"{worker} {'pause' if paused else 'resume'}"
    out = _set_flags(layout, {"paused": new}, command, require_up)
    return ControlChange(command, *out, flag="paused", value=paused, worker=worker)


def set_queue_frozen(layout: StationLayout | str | Path, frozen: bool, *,
                     require_up: bool = False) -> ControlChange:
    layout = as_layout(layout)
    command = f"queue freeze --{'on' if frozen else 'off'}"
    out = _set_flags(layout, {"queue_frozen": frozen}, command, require_up)
    return ControlChange(command, *out, flag="queue_frozen", value=frozen)


def set_discovery_hold(layout: StationLayout | str | Path, until: datetime | str | None, *,
                       require_up: bool = False) -> ControlChange:
    """Keep discovery from running until ``until`` (UTC); ``None`` lifts the hold."""
    layout = as_layout(layout)
    value = utc_iso(until) if isinstance(until, datetime) else until
    out = _set_flags(layout, {"discovery_hold_until": value}, "discovery hold", require_up)
    return ControlChange("discovery hold", *out, flag="discovery_hold_until", value=value)


def wait_empty(layout: StationLayout | str | Path, timeout_s: float = 600.0, *,
               clock: Clock = SYSTEM_CLOCK, poll_s: float = 0.25) -> StationStatus:
    """Wait until the flags in force are the latest and no job is in progress."""
    layout = as_layout(layout)
    _require_up(layout)
    _post(layout, "reload")
    last: list[StationStatus] = []

    def drained() -> StationStatus | None:
        st = status(layout)
        if not st.up:
            raise StationNotRunning(f"the station at {layout.root} stopped while waiting")
        last[:] = [st]
        return st if st.flags_applied and st.in_progress == 0 else None

    def still_busy() -> TimedOut:
        st = last[-1]
        return TimedOut(f"{st.in_progress} job(s) still in progress after {timeout_s:g} s",
                        actual=st.in_progress_by_worker)

    return wait_until(drained, timeout_s, poll_s, clock=clock, on_timeout=still_busy)


def _startup_error(layout: StationLayout) -> VVTVError | None:
    try:
        data = json.loads((layout.run / STARTUP_ERROR).read_text())
    except (FileNotFoundError, ValueError):
        return None
    cls = getattr(errors, data.get("type", ""), VVTVError)
    if not (isinstance(cls, type) and issubclass(cls, VVTVError)):
        cls = VVTVError
    return cls(f"the station supervisor failed to start: {data.get('message')}")


def _first_segment_served(st: StationStatus) -> bool:
    if not st.encoder_running or not st.playing or not st.hls_url:
        return False
    if st.playing.get("run_id") != st.encoder_run_id:
        return False
    try:
        resp = httpx.get(st.hls_url, timeout=2)
        if resp.status_code != 200 or "#EXTINF" not in resp.text:
            return False
        seg = str(httpx.URL(st.hls_url).join(st.playing["segment"]))
        return httpx.head(seg, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_serving(layout: StationLayout, *, ingest: bool, timeout_s: float,
                 proc: subprocess.Popen[bytes] | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> StationStatus:
    """Until the station answers ``/status`` (and, with ``ingest``, serves the run's first
    HLS segment); ``proc``, the supervisor just spawned, exiting first is its startup error."""
    def serving() -> StationStatus | None:
        if proc is not None and proc.poll() is not None:
            raise _startup_error(layout) or VVTVError(
                f"the station supervisor exited with status {proc.returncode}; "
                f"see {layout.logs / 'supervisor.out'}")
        st = status(layout)
        return st if st.up and (not ingest or _first_segment_served(st)) else None

    what = "serve its first HLS segment" if ingest else "answer /status"
    return wait_until(serving, timeout_s, 0.2, clock=clock, on_timeout=lambda: TimedOut(
        f"the station did not {what} within {timeout_s:g} s", path=layout.root))


def broadcaster_start(layout: StationLayout | str | Path, item_id: str | None = None,
                      offset_s: float | None = None, *, timeout_s: float = 30.0
                      ) -> StationStatus:
    """Start ingest (at the resume point, or at ``item_id``/``offset_s``, rounded down to a
    segment boundary); returns once the run's first segment is served."""
    layout = as_layout(layout)
    _require_up(layout)
    ControlStore(layout).set({"broadcaster": {"desired": "on"}}, command="broadcaster start",
                             detail={"item_id": item_id, "offset_s": offset_s})
    body: dict[str, Any] = {}
    if item_id is not None:
        body["item_id"] = item_id
    if offset_s is not None:
        body["offset_s"] = offset_s
    _post(layout, "broadcaster/start", body)
    return wait_serving(layout, ingest=True, timeout_s=timeout_s)


def broadcaster_stop(layout: StationLayout | str | Path, timeout_s: float = 15.0
                     ) -> IngestStopped:
    """Stop ingest gracefully (last segment flushed); returns the recorded resume position."""
    layout = as_layout(layout)
    _require_up(layout)
    ControlStore(layout).set({"broadcaster": {"desired": "off"}}, command="broadcaster stop")
    return IngestStopped.from_dict(_post(layout, "broadcaster/stop", timeout_s=timeout_s + 5))


def resume_position(layout: StationLayout | str | Path) -> Position | None:
    return Position.from_dict(ControlStore(as_layout(layout)).get("resume"))


__all__ = ["SUMMARY_FIELDS", "ControlChange", "StationStatus", "as_layout", "broadcaster_start",
           "broadcaster_stop", "require_up", "resume_position", "set_discovery_hold",
           "set_queue_frozen", "set_worker_paused", "status", "wait_empty", "wait_serving"]


def restart_encoder(layout: StationLayout | str | Path, timeout_s: float = 30.0
                    ) -> EncoderRestarted:
    """Restart the encoder only (nginx and the HTTP server keep running)."""
    return EncoderRestarted.from_dict(_post(as_layout(layout), "encoder/restart",
                                            timeout_s=timeout_s))


def inject_emergency(layout: StationLayout | str | Path, count: int, reason: str
                     ) -> EmergencyInjected:
    """Append ``count`` entries of the emergency loop to the queue."""
    return EmergencyInjected.from_dict(_post(as_layout(layout), "emergency/inject",
                                             {"count": count, "reason": reason}))
