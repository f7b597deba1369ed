"""``vvtvctl flags get|set|list``: the feature flags file, written atomically, each change
audited (who, when, old, new, reason) in a hash-chained log next to it.

The running services read the file through ``core.features.FlagWatcher``; a value that
does not validate is refused here, before anything is written.
"""

from __future__ import annotations

import getpass
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomli_w

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.config import read_toml
from vvtvlib.core.errors import UsageError
from vvtvlib.core.evidence import EvidenceLog
from vvtvlib.core.features import DEFAULTS, Features, load_features, parse_features
from vvtvlib.core.fsio import atomic_write

TRUE = {"on", "true", "yes", "1", "enabled"}
FALSE = {"off", "false", "no", "0", "disabled"}


@dataclass(frozen=True)
class FlagChange:
    flag: str
    old: Any
    new: Any
    who: str
    when: str
    reason: str
    path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def audit_path(path: Path) -> Path:
    return path.with_name(path.stem + ".audit.jsonl")


def names() -> list[str]:
    return sorted(DEFAULTS.flat())


def _check_name(flag: str) -> tuple[str, str]:
    if flag not in DEFAULTS.flat():
        raise UsageError(f"unknown flag {flag!r}; known: {', '.join(names())}", actual=flag)
    section, key = flag.split(".", 1)
    return section, key


def get_flag(path: Path, flag: str) -> Any:
    _check_name(flag)
    return load_features(path).flat()[flag]


def list_flags(path: Path) -> dict[str, Any]:
    return load_features(path).flat()


def parse_value(flag: str, text: str) -> Any:
    """``on|off|true|false`` for booleans, numbers for numbers, text for text."""
    default = DEFAULTS.flat()[flag]
    low = text.strip().lower()
    if isinstance(default, bool):
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        raise UsageError(f"{flag} is on or off, not {text!r}", actual=text)
    if isinstance(default, int):
        try:
            return int(low)
        except ValueError:
            raise UsageError(f"{flag} is a whole number, not {text!r}", actual=text) from None
    if isinstance(default, float):
        try:
            return float(low)
        except ValueError:
            raise UsageError(f"{flag} is a number, not {text!r}", actual=text) from None
    return text


def parse_assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise UsageError(f"expected FLAG=VALUE (e.g. curator.apply_enabled=false), got {text!r}",
                         actual=text)
    flag, value = text.split("=", 1)
    return flag.strip(), value


def set_flag(path: Path, flag: str, value: Any, *, reason: str = "", who: str | None = None,
             clock: Clock = SYSTEM_CLOCK) -> FlagChange:
    """Validate the whole new file, write it atomically, then audit the change."""
    section, key = _check_name(flag)
    if path.exists():
        data = read_toml(path)
        load_features(path)  # an invalid file is reported, not silently overwritten
    else:
        data = DEFAULTS.model_dump()
    old = parse_features(data, path).flat()[flag]
    data.setdefault(section, {})[key] = value
    new_flags: Features = parse_features(data, path)
    atomic_write(path, tomli_w.dumps(new_flags.model_dump()))
    change = FlagChange(flag, old, new_flags.flat()[flag], who or _who(), utc_iso(clock.now()),
                        reason, str(path))
    EvidenceLog(audit_path(path), clock=clock).append({"event": "flag_set", **change.to_dict()})
    return change


def write_defaults(path: Path) -> None:
    atomic_write(path, tomli_w.dumps(DEFAULTS.model_dump()))


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"

