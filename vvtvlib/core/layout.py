"""Where things live in a station root (the seed's ``/vvtv`` tree)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "/vvtv"


def resolve_root(root: str | Path | None = None) -> Path:
    """``--root``, else ``$VVTV_ROOT``, else ``/vvtv``."""
    return Path(root or os.environ.get("VVTV_ROOT") or DEFAULT_ROOT).absolute()


@dataclass(frozen=True)
class StationLayout:
    root: Path

    @classmethod
    def at(cls, root: str | Path | None = None) -> StationLayout:
        return cls(resolve_root(root))

    # broadcast
    @property
    def broadcast(self) -> Path:
        return self.root / "broadcast"

    @property
    def hls_dir(self) -> Path:
        return self.broadcast / "hls"

    # storage
    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def ready(self) -> Path:
        return self.storage / "ready"

    @property
    def cache(self) -> Path:
        return self.storage / "cache"

    @property
    def tmp(self) -> Path:
        return self.storage / "tmp"

    # data
    @property
    def data(self) -> Path:
        return self.root / "data"

    def db(self, name: str) -> Path:
        return self.data / f"{name}.sqlite"

    # system
    @property
    def system(self) -> Path:
        return self.root / "system"

    @property
    def bin(self) -> Path:
        return self.system / "bin"

    @property
    def logs(self) -> Path:
        return self.system / "logs"

    @property
    def configs(self) -> Path:
        return self.system / "configs"

    @property
    def run(self) -> Path:
        """Runtime files (pidfiles, sockets, ports): never snapshotted."""
        return self.system / "run"

    # vault
    @property
    def vault(self) -> Path:
        return self.root / "vault"

    @property
    def keys(self) -> Path:
        return self.vault / "keys"

    @property
    def trusted_keys(self) -> Path:
        return self.keys / "trusted"

    @property
    def foundation_key(self) -> Path:
        return self.keys / "foundation_ed25519"

    @property
    def foundation_pub(self) -> Path:
        return self.keys / "foundation_ed25519.pub"

    @property
    def manifests(self) -> Path:
        return self.vault / "manifests"

    @property
    def snapshots(self) -> Path:
        return self.vault / "snapshots"

    @property
    def history(self) -> Path:
        return self.vault / "history"

    # monitor
    @property
    def monitor(self) -> Path:
        return self.root / "monitor"

    @property
    def captures(self) -> Path:
        return self.monitor / "captures"

    TREES = ("broadcast", "storage", "data", "system", "vault", "monitor")

    def skeleton(self) -> list[Path]:
        return [self.hls_dir, self.ready, self.cache, self.tmp, self.data, self.bin, self.logs,
                self.configs, self.run, self.trusted_keys, self.manifests, self.snapshots,
                self.history, self.captures]
