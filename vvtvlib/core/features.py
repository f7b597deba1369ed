"""Feature flags read by running services without a restart.

The file is ``<root>/system/configs/features.toml`` (the repository's ``ops/flags/features.toml``
holds the same defaults). ``FlagWatcher.current()`` costs one ``stat``: a service calls it
each cycle (the station supervisor every 0.3 s, the pool on each request) and sees a change
within a second. A file that does not parse or validate keeps the last good flags; the
watcher's ``error`` says why, and ``vvtvctl ops status`` shows it in red.

Writers (``vvtvctl flags set``) live in ``vvtvlib.ops.flags``; this module only reads.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import read_toml
from .errors import ConfigError
from .layout import StationLayout


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CuratorFlags(_Section):
    apply_enabled: bool = True
    min_confidence_apply: float = Field(default=0.62, ge=0.0, le=1.0)


class AutopilotFlags(_Section):
    enabled: bool = False
    canary_pct: float = Field(default=0.2, ge=0.0, le=1.0)


class PoolFlags(_Section):
    hedge_after_ms: int = Field(default=0, ge=0)  # 0: the pool's; else hedge after it
    heavy_deadline_ms: int = Field(default=0, ge=0)  # 0: the task's; else a cap


class ApiFlags(_Section):
    burst_shedding: bool = False                # limit /v1/infer per tenant
    shed_rps_per_tenant: int = Field(default=60, ge=1)


class DrainFlags(_Section):
    """Services in maintenance (``vvtvctl ops drain``): new work refused or diverted."""

    pool: bool = False
    api: bool = False
    streaming: bool = False
    planner: bool = False
    pool_fallback: str = ""                      # a drained pool answers this when set
    reason: str = ""


class Features(_Section):
    curator: CuratorFlags = CuratorFlags()
    autopilot: AutopilotFlags = AutopilotFlags()
    pool: PoolFlags = PoolFlags()
    api: ApiFlags = ApiFlags()
    drain: DrainFlags = DrainFlags()

    def flat(self) -> dict[str, Any]:
        """``{"curator.apply_enabled": True, ...}``: every flag by its dotted name."""
        return {f"{section}.{key}": value for section, values in self.model_dump().items()
                for key, value in values.items()}


DEFAULTS = Features()


def flags_path(root: str | Path | None = None) -> Path:
    return StationLayout.at(root).configs / "features.toml"


def parse_features(data: dict[str, Any], source: str | Path = "<flags>") -> Features:
    try:
        return Features.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{source}: {where}: {first['msg']}", path=source) from None


def load_features(path: str | Path) -> Features:
    """The flags in ``path``; the defaults when it does not exist; ConfigError when invalid."""
    path = Path(path)
    if not path.exists():
        return DEFAULTS
    return parse_features(read_toml(path), path)


class FlagWatcher:
    """The last good flags of one file, re-read when its mtime or size changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock = threading.Lock()
        self.flags: Features = DEFAULTS
        self.error: str | None = None
        self.reloads = 0
        self._sig: tuple[int, int, int] | None | bool = False  # False: never looked
        self.current()

    def current(self) -> Features:
        try:
            st = os.stat(self.path)
            # the inode too: a rewrite by rename within one timestamp tick, same size
            sig: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            sig = None
        with self.lock:
            if sig == self._sig:
                return self.flags
            self._sig = sig
            try:
                self.flags = load_features(self.path)
                self.error = None
                self.reloads += 1
            except ConfigError as exc:
                self.error = exc.message  # keep the last good flags
            return self.flags

    def state(self) -> dict[str, Any]:
        flags = self.current()
        return {"path": str(self.path), "error": self.error, "reloads": self.reloads,
                "flags": flags.flat()}
