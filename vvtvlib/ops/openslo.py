"""The catalog as OpenSLO v1 documents (``vvtvctl slo export --openslo``).

One ``Service`` per catalog file and one ``SLO`` per entry: ``ratio`` SLIs become
``Occurrences`` with a ``ratioMetric`` (bad / total), ``window`` and ``zero`` SLIs become
``Timeslices`` with a ``thresholdMetric`` whose query is the slice's value.
"""

from __future__ import annotations

from typing import Any

import yaml

from .catalog import Catalog, ServiceFile, Slo, slo_id
from .promql import num, window_value

_OP = {">": "lte", "<": "gte"}  # the objective holds when the value is NOT over the line


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def slo_document(svc: ServiceFile, slo: Slo) -> dict[str, Any]:
    sli = slo.sli
    ident = slo_id(svc, slo)
    spec: dict[str, Any] = {"description": " ".join(slo.description.split()),
                            "service": svc.service,
                            "timeWindow": [{"duration": slo.window, "isRolling": True}]}
    target = float(slo.objective / 100)
    if sli.kind == "ratio":
        assert sli.errors and sli.total
        spec["indicator"] = {"metadata": {"name": f"{ident}-sli"}, "spec": {"ratioMetric": {
            "counter": True, "bad": _source(f"sum({sli.errors.selector()})"),
            "total": _source(f"sum({sli.total.selector()})")}}}
        spec["budgetingMethod"] = "Occurrences"
        spec["objectives"] = [{"displayName": slo.title, "target": target}]
    else:
        assert sli.value and sli.threshold is not None
        slice_w = "5m" if sli.kind == "window" else (sli.for_ or "1m")
        query = window_value(sli.value, slice_w, sli.op)
        spec["indicator"] = {"metadata": {"name": f"{ident}-sli"},
                             "spec": {"thresholdMetric": _source(query)}}
        spec["budgetingMethod"] = "Timeslices"
        spec["objectives"] = [{"displayName": slo.title, "op": _OP[sli.op],
                               "value": float(sli.threshold), "target": target,
                               "timeSliceTarget": 1, "timeSliceWindow": slice_w}]
    return {"apiVersion": "openslo/v1", "kind": "SLO",
            "metadata": {"name": ident, "displayName": slo.title,
                         "labels": {"owner": svc.owner, "objective": num(slo.objective)}},
            "spec": spec}


def export_openslo(catalog: Catalog) -> str:
    docs: list[dict[str, Any]] = []
    for svc in catalog.services:
        docs.append({"apiVersion": "openslo/v1", "kind": "Service",
                     "metadata": {"name": svc.service, "displayName": svc.service},
                     "spec": {"description": f"VVTV {svc.service} (owner {svc.owner})"}})
        docs += [slo_document(svc, slo) for slo in svc.slos]
    return yaml.safe_dump_all(docs, sort_keys=False, width=100)
