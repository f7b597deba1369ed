"""The multi-window multi-burn-rate table, read from data (``ops/slo/alert_windows_7d.yaml``).

burn factor = budget share (%) x period hours / 100 / long window hours, in Decimal:
8 % of 7 days spent in 1 h is a burn rate of 13.44.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import ValidationError

from vvtvlib.core.errors import ConfigError

from . import conventions as conv
from .catalog import Model, _decimal, _first_error, duration_s


class _Window(Model):
    budget_percent: Decimal
    short_window: str
    long_window: str

    def model_post_init(self, _: object) -> None:
        duration_s(self.short_window)
        duration_s(self.long_window)


class _Pair(Model):
    quick: _Window
    slow: _Window


class _Table(Model):
    period: str
    page: _Pair
    ticket: _Pair


@dataclass(frozen=True)
class AlertWindow:
    severity: str  # page | ticket
    speed: str  # quick | slow
    budget_percent: Decimal
    short: str
    long: str
    factor: Decimal


@dataclass(frozen=True)
class WindowTable:
    period: str
    windows: tuple[AlertWindow, ...]

    def for_severity(self, severity: str) -> tuple[AlertWindow, ...]:
        return tuple(w for w in self.windows if w.severity == severity)

    def durations(self) -> list[str]:
        seen: dict[str, int] = {}
        for w in self.windows:
            for d in (w.short, w.long):
                seen[d] = duration_s(d)
        return sorted(seen, key=seen.__getitem__)


def burn_factor(budget_percent: Decimal, period: str, long_window: str) -> Decimal:
    period_h = Decimal(duration_s(period)) / Decimal(3600)
    long_h = Decimal(duration_s(long_window)) / Decimal(3600)
    return (budget_percent * period_h / Decimal(100) / long_h).normalize()


def load_windows(path: str | Path = conv.WINDOWS_FILE) -> WindowTable:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: the file does not exist", path=path) from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: not valid YAML", path=path) from None

    def conv_window(w: object) -> object:
        if isinstance(w, dict):
            return {k: _decimal(v) if k == "budget_percent" else v for k, v in w.items()}
        return w

    if isinstance(data, dict):
        for sev in ("page", "ticket"):
            if isinstance(data.get(sev), dict):
                data[sev] = {k: conv_window(v) for k, v in data[sev].items()}
    try:
        table = _Table.model_validate(data)
        duration_s(table.period)
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise ConfigError(f"{path}: key {key}: {msg}", path=path, key=key) from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}", path=path) from None
    out = []
    for sev, pair in (("page", table.page), ("ticket", table.ticket)):
        for speed, w in (("quick", pair.quick), ("slow", pair.slow)):
            out.append(AlertWindow(sev, speed, w.budget_percent, w.short_window, w.long_window,
                                   burn_factor(w.budget_percent, table.period, w.long_window)))
    return WindowTable(table.period, tuple(out))
