"""Error budget consumed and remaining per SLO, from a live Prometheus or a recording.

consumed = error ratio over the period / error budget (both ratios); remaining = 1 -
consumed (negative when overspent). A zero-tolerance SLO has no budget: one incident
consumes all of it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from vvtvlib.core.errors import DependencyMissing

from .catalog import Catalog, ServiceFile, Slo, error_budget, slo_id
from .promql import num, period_error_query
from .samples import Recording, period_sli


@dataclass(frozen=True)
class BudgetRow:
    slo: str
    service: str
    objective: str
    error_budget: str
    error_ratio: float | None
    consumed: float | None
    remaining: float | None
    events: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _row(svc: ServiceFile, slo: Slo, ratio: float | None, events: int, source: str
         ) -> BudgetRow:
    budget = error_budget(slo)
    consumed: float | None
    if ratio is None:
        consumed = None
    elif slo.sli.kind == "zero":
        consumed = 1.0 if events else 0.0
    else:
        consumed = round(ratio / float(budget), 6)
    return BudgetRow(slo_id(svc, slo), svc.service, f"{num(slo.objective)} %",
                     f"{num(budget * Decimal(100))} %",
                     None if ratio is None else round(ratio, 6), consumed,
                     None if consumed is None else round(1 - consumed, 6), events, source)


def budget_from_recording(catalog: Catalog, rec: Recording, source: str = "recording"
                          ) -> list[BudgetRow]:
    rows = []
    for svc, slo in catalog.slos():
        p = period_sli(slo.sli, rec)
        rows.append(_row(svc, slo, p.error_ratio, p.events, source))
    return rows


def budget_from_file(catalog: Catalog, path: Path) -> list[BudgetRow]:
    return budget_from_recording(catalog, Recording.load(path), str(path))


def query(url: str, promql: str, timeout_s: float = 10.0) -> float | None:
    """One instant query; the first result's value (None when empty or NaN)."""
    try:
        resp = httpx.get(url.rstrip("/") + "/api/v1/query", params={"query": promql},
                         timeout=timeout_s)
        resp.raise_for_status()
        data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise DependencyMissing(f"cannot query Prometheus at {url}: {exc}") from None
    result = data.get("data", {}).get("result", [])
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value


def budget_from_prometheus(catalog: Catalog, url: str, period: str | None = None,
                           step: str = "1m") -> list[BudgetRow]:
    """Over ``period`` (default: each SLO's window); ``step``: the resolution of the
    window SLIs' subqueries."""
    rows = []
    for svc, slo in catalog.slos():
        value = query(url, period_error_query(slo.sli, period or slo.window, step))
        if slo.sli.kind == "zero":
            events = int(value or 0)
            rows.append(_row(svc, slo, None if value is None else float(bool(events)),
                             events, url))
        else:
            rows.append(_row(svc, slo, value, 0, url))
    return rows
