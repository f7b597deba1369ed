"""What an operator asks of a revival (the ``logline revive`` flags, as a value)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import UsageError
from vvtvlib.vault.folder import MANIFEST, SIGNATURE

from .continuity import Thresholds


@dataclass
class RevivalOptions:
    snapshots: Path
    target: Path
    manifest: Path | None = None  # default: <snapshots>/last_manifest.json
    signature: Path | None = None  # default: <snapshots>/signature.sig
    pubkey: Path | None = None  # a .pub file or a folder of them; default TARGET trusted keys
    strict: bool = False
    prove_continuity: bool = False
    force: bool = False
    force_rollback: bool = False
    # Where the report also goes, success or failure; None: the default location (see
    # ``report.report_location``, which ``revive`` applies before any work).
    report_path: Path | None = None
    blocklists: list[Path] = field(default_factory=list)
    thresholds: Thresholds = field(default_factory=Thresholds)
    discovery_hold_h: float = 24.0
    frame_timeout_s: float = 60.0
    # Leave the revived station running (the normal case); tests and drills may stop it.
    leave_running: bool = True

    def __post_init__(self) -> None:
        self.snapshots = Path(self.snapshots).absolute()
        self.target = Path(self.target).absolute()
        self.manifest = Path(self.manifest or self.snapshots / MANIFEST).absolute()
        self.signature = Path(self.signature or self.snapshots / SIGNATURE).absolute()
        self.pubkey = Path(self.pubkey).absolute() if self.pubkey else None
        self.report_path = Path(self.report_path).absolute() if self.report_path else None
        self.blocklists = [Path(p).absolute() for p in self.blocklists]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        out["blocklists"] = [str(p) for p in self.blocklists]
        return out


def parse_verify_pair(text: str) -> tuple[Path, Path]:
    """``MANIFEST:SIG`` as the seed writes it (the last colon separates the two paths)."""
    if ":" not in text:
        raise UsageError(f"--verify {text!r} is not of the form MANIFEST:SIGNATURE")
    manifest, sig = text.rsplit(":", 1)
    if not manifest or not sig:
        raise UsageError(f"--verify {text!r} is not of the form MANIFEST:SIGNATURE")
    return Path(manifest), Path(sig)
