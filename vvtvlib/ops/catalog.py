"""The SLO catalog: ``ops/slo/slo_<service>.yaml`` files validated by pydantic.

One file per service holds its owner, runbook, dashboard, SLOs and the seed's explicit
alerts. SLIs are structured (metric, matchers, quantile, threshold) rather than free PromQL,
so the same definition yields the recording rules, the promtool fixtures, the dashboards and
the budget computed from recorded samples. Kinds:

* ``ratio``: events; error ratio = errors / total (the 5xx SLOs).
* ``window``: bad 5-minute windows; a window is bad when its value (a gauge quantile, a
  histogram quantile or a counter ratio over 5 min) crosses the threshold (latency, age).
* ``zero``: zero tolerance; the condition held for ``for`` is an incident, alerted directly.

A bad file gets one sentence naming the file and the key (``ConfigError``, exit 2).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vvtvlib.core import metric_names
from vvtvlib.core.errors import ConfigError

from . import conventions as conv

DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
NAME = re.compile(r"^[a-z][a-z0-9-]{1,40}$")
ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{2,80}$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_s(text: str) -> int:
    m = DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h, 7d")
    return int(m.group(1)) * _SECONDS[m.group(2)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _decimal(v: Any) -> Any:
    if isinstance(v, float | int) and not isinstance(v, bool):
        return Decimal(str(v))
    return v


class Series(Model):
    """A metric and label matchers: ``"x"`` equals, ``"~re"`` matches, ``"!~re"`` does not
    match, ``"!x"`` differs."""

    metric: str
    match: dict[str, str] = Field(default_factory=dict)

    @field_validator("metric")
    @classmethod
    def _declared(cls, v: str) -> str:
        base = re.sub(r"_(bucket|count|sum)$", "", v)
        if v not in metric_names.BY_NAME and base not in metric_names.BY_NAME:
            raise ValueError(f"metric {v!r} is not declared in vvtvlib/core/metric_names.py")
        return v

    def selector(self, suffix: str = "") -> str:
        parts = []
        for key, raw in self.match.items():
            if raw.startswith("!~"):
                parts.append(f'{key}!~"{raw[2:]}"')
            elif raw.startswith("~"):
                parts.append(f'{key}=~"{raw[1:]}"')
            elif raw.startswith("!"):
                parts.append(f'{key}!="{raw[1:]}"')
            else:
                parts.append(f'{key}="{raw}"')
        return f"{self.metric}{suffix}" + ("{" + ",".join(parts) + "}" if parts else "")

    def matches(self, labels: dict[str, str]) -> bool:
        for key, raw in self.match.items():
            got = labels.get(key, "")
            if raw.startswith("!~"):
                ok = not re.fullmatch(raw[2:], got)
            elif raw.startswith("~"):
                ok = bool(re.fullmatch(raw[1:], got))
            elif raw.startswith("!"):
                ok = got != raw[1:]
            else:
                ok = got == raw
            if not ok:
                return False
        return True


class Examples(Model):
    """Concrete labels of one error event and one good event (for generated fixtures)."""

    error: dict[str, str]
    good: dict[str, str]


class Value(Model):
    type: Literal["gauge", "gauge_quantile", "histogram_quantile", "counter_ratio"]
    series: Series | None = None
    quantile: Decimal | None = None
    errors: Series | None = None
    total: Series | None = None
    examples: Examples | None = None

    _q = field_validator("quantile", mode="before")(_decimal)


class Sli(Model):
    kind: Literal["ratio", "window", "zero"]
    errors: Series | None = None
    total: Series | None = None
    examples: Examples | None = None
    value: Value | None = None
    op: Literal[">", "<"] = ">"
    threshold: Decimal | None = None
    for_: str | None = Field(default=None, alias="for")

    _t = field_validator("threshold", mode="before")(_decimal)


class Slo(Model):
    name: str
    title: str
    description: str
    objective: Decimal
    window: str = "7d"
    sli: Sli
    panel: str
    alerts: list[str] = Field(default_factory=list)
    alert: str | None = None  # zero tolerance: the direct alert's name
    severity: Literal["critical", "major", "minor"] = "critical"
    absent_for: str = "5m"

    _o = field_validator("objective", mode="before")(_decimal)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError(f"{v!r} must be lower-case letters, digits and dashes")
        return v

    @field_validator("objective")
    @classmethod
    def _objective(cls, v: Decimal) -> Decimal:
        if v <= 0 or v > 100:
            raise ValueError(f"objective {v} must be a percentage in (0, 100]")
        if v < 1:
            raise ValueError(f"objective {v} looks like a ratio; write it as a percentage "
                             f"({v * 100})")
        return v

    @field_validator("window", "absent_for")
    @classmethod
    def _duration(cls, v: str) -> str:
        duration_s(v)
        return v


class FixtureCase(Model):
    """Input series for an explicit alert's fixture: selector -> value. A gauge holds the
    value; a counter (or histogram bucket) grows by the value per minute. ``labels``: the
    labels the fired alert carries from its expression (``sum by (provider)`` keeps
    ``provider``), which the fixture expects besides the rule's own."""

    fire: dict[str, Decimal]
    quiet: dict[str, Decimal]
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("fire", "quiet", mode="before")
    @classmethod
    def _values(cls, v: Any) -> Any:
        return {k: _decimal(x) for k, x in v.items()} if isinstance(v, dict) else v


class Alert(Model):
    name: str
    severity: Literal["critical", "major", "minor"]
    expr: str
    for_: str = Field(default="0m", alias="for")
    # Prometheus keeps the alert firing this long after its condition last held: a
    # condition that flaps inside one incident stays one alert, and so one page
    keep_firing_for: str = "0m"
    summary: str
    description: str = ""
    runbook: str | None = None  # file.md#anchor; default: the service runbook + the name
    fixture: FixtureCase

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not ALERT_NAME.match(v):
            raise ValueError(f"alert name {v!r} must be CamelCase letters and digits")
        return v

    @field_validator("for_", "keep_firing_for")
    @classmethod
    def _for(cls, v: str) -> str:
        duration_s(v)
        return v


class ServiceFile(Model):
    service: str
    owner: str
    runbook: str
    dashboard: str
    slos: list[Slo]
    alerts: list[Alert] = Field(default_factory=list)


class Catalog(Model):
    services: list[ServiceFile]
    sources: dict[str, str] = Field(default_factory=dict)  # service -> file

    def slos(self) -> list[tuple[ServiceFile, Slo]]:
        return [(s, slo) for s in self.services for slo in s.slos]

    def find(self, ident: str) -> tuple[ServiceFile, Slo]:
        for svc, slo in self.slos():
            if ident in (f"{svc.service}-{slo.name}", slo.name):
                return svc, slo
        known = ", ".join(f"{s.service}-{x.name}" for s, x in self.slos())
        raise ConfigError(f"no SLO named {ident!r}; known: {known}")

    def alerts(self) -> list[tuple[ServiceFile, Alert]]:
        return [(s, a) for s in self.services for a in s.alerts]


def slo_id(svc: ServiceFile, slo: Slo) -> str:
    return f"{svc.service}-{slo.name}"


def error_budget(slo: Slo) -> Decimal:
    """The error budget as a ratio, exactly: (100 - objective) / 100."""
    return (Decimal(100) - slo.objective) / Decimal(100)


# ----------------------------------------------------------------------------- loading
def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return key, msg


def load_service_file(path: Path) -> ServiceFile:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: the file does not exist", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}", path=path) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: key <root>: expected a mapping", path=path, key="<root>")
    try:
        svc = ServiceFile.model_validate(data)
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise ConfigError(f"{path}: key {key}: {msg}", path=path, key=key) from None
    _check_service(svc, path)
    return svc


def _fail(path: Path, key: str, msg: str) -> ConfigError:
    return ConfigError(f"{path}: key {key}: {msg}", path=path, key=key)


def _check_service(svc: ServiceFile, path: Path) -> None:
    from .promql import metric_names_in

    declared = {a.name for a in svc.alerts}
    for i, slo in enumerate(svc.slos):
        key = f"slos.{i}"
        sli = slo.sli
        if slo.window != "7d":
            raise _fail(path, f"{key}.window", f"only the 7d window has an alert-window "
                        f"table ({conv.WINDOWS_FILE}), not {slo.window}")
        if sli.kind == "ratio":
            if not (sli.errors and sli.total):
                raise _fail(path, f"{key}.sli", "a ratio SLI needs errors and total")
            if sli.errors == sli.total:
                raise _fail(path, f"{key}.sli.errors", "the errors query equals the total query")
            _check_examples(path, f"{key}.sli", sli.errors, sli.total, sli.examples)
        else:
            if sli.value is None or sli.threshold is None:
                raise _fail(path, f"{key}.sli", f"a {sli.kind} SLI needs value and threshold")
            _check_value(path, f"{key}.sli", sli.value, sli.threshold)
        if sli.kind == "zero":
            if slo.objective != 100:
                raise _fail(path, f"{key}.objective", "a zero-tolerance SLO has objective 100")
            if not slo.alert or sli.for_ is None or sli.value is None \
                    or sli.value.type != "gauge":
                raise _fail(path, f"{key}.sli", "a zero-tolerance SLO needs a gauge value, "
                            "`for` and the direct alert's name in `alert`")
            duration_s(sli.for_)
        elif slo.objective == 100:
            raise _fail(path, f"{key}.objective", "objective 100 leaves no error budget; "
                        "use kind zero")
        for j, name in enumerate(slo.alerts):
            if name not in declared:
                raise _fail(path, f"{key}.alerts.{j}", f"alert {name!r} is not defined in "
                            "this file's alerts")
    for i, alert in enumerate(svc.alerts):
        for name in metric_names_in(alert.expr):
            if name not in metric_names.declared_series() and name not in metric_names.BY_NAME:
                raise _fail(path, f"alerts.{i}.expr", f"metric {name!r} is not declared in "
                            "vvtvlib/core/metric_names.py")


def _check_examples(path: Path, key: str, errors: Series, total: Series,
                    ex: Examples | None) -> None:
    if errors.metric != total.metric:
        return
    if ex is None:
        raise _fail(path, f"{key}.examples", "errors and total share a metric: give example "
                    "labels of an error and of a good event")
    if not (errors.matches(ex.error) and total.matches(ex.error)):
        raise _fail(path, f"{key}.examples.error", "the labels do not match errors and total")
    if errors.matches(ex.good) or not total.matches(ex.good):
        raise _fail(path, f"{key}.examples.good", "the labels must match total but not errors")


def _check_value(path: Path, key: str, value: Value, threshold: Decimal) -> None:
    if value.type == "counter_ratio":
        if not (value.errors and value.total):
            raise _fail(path, f"{key}.value", "a counter_ratio needs errors and total")
        _check_examples(path, f"{key}.value", value.errors, value.total, value.examples)
        return
    if value.series is None:
        raise _fail(path, f"{key}.value.series", f"a {value.type} value needs a series")
    if value.type in ("gauge_quantile", "histogram_quantile") and value.quantile is None:
        raise _fail(path, f"{key}.value.quantile", "a quantile is required")
    declared = metric_names.BY_NAME[value.series.metric]
    if value.type == "histogram_quantile":
        if declared.kind != "histogram":
            raise _fail(path, f"{key}.value.series.metric", f"{declared.name} is not a histogram")
        if float(threshold) not in declared.buckets:
            raise _fail(path, f"{key}.threshold", f"{threshold} is not a bucket boundary of "
                        f"{declared.name} {list(declared.buckets)}; the SLI would be "
                        "interpolated")
    elif declared.kind != "gauge":
        raise _fail(path, f"{key}.value.series.metric", f"{declared.name} is not a gauge")


def load_catalog(folder: str | Path = conv.CATALOG_DIR) -> Catalog:
    folder = Path(folder)
    files = sorted(folder.glob("slo_*.yaml"))
    if not files:
        raise ConfigError(f"{folder}: no slo_*.yaml files", path=folder)
    services: list[ServiceFile] = []
    sources: dict[str, str] = {}
    seen_alerts: dict[str, Path] = {}
    for path in files:
        svc = load_service_file(path)
        if svc.service in sources:
            raise _fail(path, "service", f"{svc.service!r} is also defined in "
                        f"{sources[svc.service]}")
        names = [a.name for a in svc.alerts] + [
            n for slo in svc.slos for n in ([slo.alert] if slo.alert else [])]
        for i, name in enumerate(names):
            if name in seen_alerts:
                raise _fail(path, f"alerts.{i}.name", f"alert {name!r} is also defined in "
                            f"{seen_alerts[name]}")
            seen_alerts[name] = path
        services.append(svc)
        sources[svc.service] = str(path)
    return Catalog(services=services, sources=sources)
