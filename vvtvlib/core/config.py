"""One typed config loader: TOML files validated by pydantic models.

Errors name the file and the dotted key. Per-run overrides (``--set a.b=5``) are parsed as
TOML values and applied before validation, so they are validated like the file itself.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    """Base for config sections: unknown keys are errors (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = _deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {part} is not a section")
        node[parts[-1]] = value
    return out


def _deepcopy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deepcopy(v) if isinstance(v, dict) else v for k, v in data.items()}


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", path=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start} is "
                          f"0x{exc.object[exc.start]:02x}); TOML files must be UTF-8",
                          path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}", path=path) from exc
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder, not a file", path=path) from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}",
                          path=path) from None


def validate(model: type[M], data: dict[str, Any], *, source: str | Path = "<config>") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        raise ConfigError(f"{source}: key {key}: {err['msg']}", path=str(source), key=key) from None


def load_config(model: type[M], path: str | Path | None, overrides: list[str] | None = None,
                *, missing_ok: bool = True) -> M:
    """Load ``path`` into ``model``; a missing file gives the model's defaults when allowed."""
    data: dict[str, Any] = {}
    if path is not None and (Path(path).exists() or not missing_ok):
        data = read_toml(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return validate(model, data, source=path or "<defaults>")
