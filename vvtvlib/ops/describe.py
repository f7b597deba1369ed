"""The catalog as rows for people: the seed's SLO table (``vvtvctl slo list|show``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from . import conventions as conv
from .catalog import Catalog, ServiceFile, Slo, error_budget, slo_id
from .promql import bad_window, condition, num, raw_error_ratio
from .windows import WindowTable


@dataclass(frozen=True)
class SloRow:
    id: str
    service: str
    title: str
    kind: str
    sli: str  # the query
    objective: str
    window: str
    error_budget: str
    owner: str
    dashboard: str
    panel: str
    alerts: list[str]
    description: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sli_query(slo: Slo) -> str:
    if slo.sli.kind == "ratio":
        return raw_error_ratio(slo.sli, "5m")
    if slo.sli.kind == "window":
        return bad_window(slo.sli, "5m")
    return f"{condition(slo.sli)} (for {slo.sli.for_})"


def linked_alerts(svc: ServiceFile, slo: Slo) -> list[str]:
    names = []
    if slo.sli.kind == "zero" and slo.alert:
        names.append(slo.alert)
    else:
        names.append(conv.burn_alert_name(svc.service, slo.name))
    names.append(conv.absent_alert_name(svc.service, slo.name))
    return names + list(slo.alerts)


def slo_row(catalog: Catalog, svc: ServiceFile, slo: Slo) -> SloRow:
    budget = "zero tolerance" if slo.sli.kind == "zero" else \
        f"{num(error_budget(slo) * Decimal(100))} %"
    return SloRow(slo_id(svc, slo), svc.service, slo.title, slo.sli.kind, sli_query(slo),
                  f"{num(slo.objective)} %", slo.window, budget, svc.owner, svc.dashboard,
                  slo.panel, linked_alerts(svc, slo), " ".join(slo.description.split()),
                  catalog.sources.get(svc.service, ""))


def rows(catalog: Catalog) -> list[SloRow]:
    return [slo_row(catalog, svc, slo) for svc, slo in catalog.slos()]


@dataclass(frozen=True)
class BurnRow:
    severity: str
    speed: str
    budget_percent: str
    short_window: str
    long_window: str
    burn_factor: str
    time_to_exhaust: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def burn_table(table: WindowTable) -> list[BurnRow]:
    from .catalog import duration_s

    out = []
    for w in table.windows:
        hours = Decimal(duration_s(table.period)) / Decimal(3600) / w.factor
        out.append(BurnRow(w.severity, w.speed, f"{num(w.budget_percent)} %", w.short, w.long,
                           num(w.factor), f"{hours.quantize(Decimal('0.1'))} h"))
    return out
