"""Which providers the operator disabled: ``<root>/pool/state.toml`` (``disabled = [...]``).

``vvtvctl pool provider disable|enable ID`` rewrites it atomically; a running pool re-reads
it when its mtime or size changed (one ``stat`` per request), so the change takes effect
without a restart.
"""

from __future__ import annotations

import os
from pathlib import Path

import tomli_w

from vvtvlib.core.config import read_toml
from vvtvlib.core.errors import ConfigError
from vvtvlib.core.fsio import atomic_write


class EnableState:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.disabled: frozenset[str] = frozenset()
        self._sig: tuple[int, int] | None = None
        self.refresh()

    def refresh(self) -> frozenset[str]:
        if self.path is None:
            return self.disabled
        try:
            st = os.stat(self.path)
            sig: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            sig = None
        if sig != self._sig:
            self._sig = sig
            self.disabled = read_disabled(self.path) if sig else frozenset()
        return self.disabled


def read_disabled(path: Path) -> frozenset[str]:
    try:
        data = read_toml(path)
    except ConfigError:
        if not path.exists():
            return frozenset()
        raise
    value = data.get("disabled", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: disabled must be a list of provider ids", path=path)
    return frozenset(value)


def set_enabled(path: Path, provider_id: str, enabled: bool) -> frozenset[str]:
    current = read_disabled(path) if path.exists() else frozenset()
    new = current - {provider_id} if enabled else current | {provider_id}
    atomic_write(path, tomli_w.dumps({"disabled": sorted(new)}))
    return new
