"""Where the guardian reads and writes. It writes only under ``vault/`` top level and
``system/run/``; the guarded trees (``vault/snapshots``, ``vault/manifests``) are read only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vvtvlib.core.layout import StationLayout


@dataclass(frozen=True)
class GuardianPaths:
    layout: StationLayout

    @classmethod
    def at(cls, root: str | Path | None = None) -> GuardianPaths:
        return cls(StationLayout.at(root))

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def guarded_roots(self) -> tuple[Path, ...]:
        return (self.layout.snapshots, self.layout.manifests)

    @property
    def baseline(self) -> Path:
        return self.layout.vault / "sleepguard_baseline.json"

    @property
    def report(self) -> Path:
        return self.layout.vault / "sleepguard_report.jsonl"

    @property
    def tamper(self) -> Path:
        """Where the guardian alerts when its report log was tampered with (truncated, deleted,
        extended, or its head lost): a separate chain, so the damaged report is left as found
        and is never re-anchored."""
        return self.layout.vault / "sleepguard_tamper.jsonl"

    @property
    def rotation(self) -> Path:
        return self.layout.vault / "sleepguard_rotation.json"

    @property
    def state_log(self) -> Path:
        """The hibernation state log (``hibernating`` / ``awake`` lines)."""
        return self.layout.vault / "sleepguard_state.jsonl"

    @property
    def log(self) -> Path:
        return self.layout.vault / "sleepguardd.log"

    @property
    def pidfile(self) -> Path:
        return self.layout.run / "sleepguardd.pid"

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
