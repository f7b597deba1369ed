"""One error tree for the whole lab.

    VVTVError                      exit 1 unless a subclass says otherwise
    ├── CheckFailed                1  a check ran and said no (report says which and why)
    │   ├── IntegrityError            a hash, size or chain did not match
    │   ├── SignatureError            a signature or key did not verify
    │   │   └── UntrustedKey              no pinned key, or a key that is not a trust anchor
    │   ├── UnsafeArchive             an archive member would escape or is not allowed
    │   └── PrecheckFailed            a ritual pre-check hard-stopped
    ├── UsageError                 2  bad arguments or state the operator must fix
    │   └── ConfigError               a config file or key is invalid
    ├── DependencyMissing          3  a tool, service or file the command needs is absent
    │   └── StationNotRunning         the station supervisor is not up
    └── TimedOut                   4  a wait ran out or the run was interrupted
        └── Interrupted               the operator interrupted the run (Ctrl-C)

Domain code raises these with context; only the CLI maps them to exit codes
(``exit_code``, in ``cli.common.errors_to_exit``) and the future API maps them to HTTP
statuses. A run of steps (``core.steps``) that stops raises the error that stopped it with
the run's journal attached (``exc.journal``); it never returns a failed journal. Foreign
exceptions are translated at that boundary by ``core.steps.as_error``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .steps import Journal


class VVTVError(Exception):
    """Base of every error the lab raises on purpose."""

    exit_code = 1
    journal: Journal | None = None  # the run's journal, when a run of steps stopped on it

    def __init__(self, message: str, *, path: str | Path | None = None,
                 expected: Any = None, actual: Any = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.expected = expected
        self.actual = actual
        self.context = context

    def attach(self, journal: Journal) -> VVTVError:
        """Attach the journal of the run this error stopped; returns the error, to raise."""
        self.journal = journal
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": type(self).__name__, "message": self.message,
                               "exit_code": self.exit_code}
        for key in ("path", "expected", "actual"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.context:
            out["context"] = {k: _jsonable(v) for k, v in self.context.items()}
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class CheckFailed(VVTVError):
    exit_code = 1


class IntegrityError(CheckFailed):
    pass


class SignatureError(CheckFailed):
    pass


class UntrustedKey(SignatureError):
    """No pinned public key to verify with, or one that cannot be a trust anchor (a key
    shipped inside the snapshot being verified)."""


class UnsafeArchive(CheckFailed):
    pass


class PrecheckFailed(CheckFailed):
    pass


class UsageError(VVTVError):
    exit_code = 2


class ConfigError(UsageError):
    pass


class DependencyMissing(VVTVError):
    exit_code = 3


class StationNotRunning(DependencyMissing):
    pass


class TimedOut(VVTVError):
    exit_code = 4


class Interrupted(TimedOut):
    """The operator interrupted a run (Ctrl-C); what was done is in the attached journal."""


__all__ = [
    "CheckFailed", "ConfigError", "DependencyMissing", "IntegrityError", "Interrupted",
    "PrecheckFailed", "SignatureError", "StationNotRunning", "TimedOut", "UnsafeArchive",
    "UntrustedKey", "UsageError", "VVTVError",
]
