"""``promtool test rules`` fixtures generated from the catalog: per alert, input series that
must fire it (at the right time, with the right labels and annotations) and series just
below its threshold that must not.

* Burn-rate alerts: a constant error ratio at 1.25 x the quick page factor x budget (page and
  ticket fire), at 0.9 x the slow page factor (only the ticket fires), at 0.9 x the smallest
  ticket factor (nothing fires); a window SLI is driven bad or just good.
* Absent-metric alerts: no series (fires after ``absent_for``), the series (quiet).
* Zero-tolerance and the seed's alerts: the catalog's ``fixture`` values (a gauge holds the
  value, a counter grows by it per minute), checked one step before ``for`` elapses (not
  firing), just after (firing), and the quiet values at the end (not firing). An alert
  with ``keep_firing_for``: the fire values, then the quiet ones for good; still firing
  ``keep_firing_for`` after the condition last held, resolved once it has passed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

from vvtvlib.core import metric_names

from . import conventions as conv
from .catalog import (
    Alert,
    Catalog,
    Examples,
    Series,
    ServiceFile,
    Sli,
    Slo,
    duration_s,
    error_budget,
)
from .promql import num, primary_series
from .rules import RuleSet, ids
from .windows import WindowTable

STEP_S = 15  # input series resolution (a typical scrape interval)
EVAL_S = 60  # rule evaluation interval of the tests
PER_STEP = Decimal(STEP_S) / Decimal(60)
TOTAL_PER_MIN = Decimal(1000)


@dataclass
class Case:
    """One promtool test: input series, and per check time the alerts expected."""

    name: str
    alert: str
    minutes: int
    series: dict[str, str]
    checks: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "interval": f"{STEP_S}s",
            "input_series": [{"series": s, "values": v} for s, v in self.series.items()],
            "alert_rule_test": [{"eval_time": f"{t}s", "alertname": self.alert,
                                 "exp_alerts": exp} for t, exp in self.checks],
        }


def _steps(minutes: int) -> int:
    return minutes * 60 // STEP_S


def gauge(value: Decimal, minutes: int) -> str:
    return f"{num(value)}x{_steps(minutes)}"


def counter(per_minute: Decimal, minutes: int) -> str:
    return f"0+{num(per_minute * PER_STEP)}x{_steps(minutes)}"


def labelled(metric: str, labels: dict[str, str]) -> str:
    if not labels:
        return metric
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _equalities(series: Series) -> dict[str, str]:
    return {k: v for k, v in series.match.items() if not v.startswith(("~", "!"))}


def _kind_of(selector: str) -> str:
    metric = selector.split("{", 1)[0]
    if metric in metric_names.BY_NAME:
        return metric_names.BY_NAME[metric].kind
    return "counter"  # _bucket, _count, _sum of a histogram


def explicit_series(values: dict[str, Decimal], minutes: int) -> dict[str, str]:
    return {sel: (gauge(v, minutes) if _kind_of(sel) == "gauge" else counter(v, minutes))
            for sel, v in values.items()}


def phased_series(fire: dict[str, Decimal], quiet: dict[str, Decimal], fire_min: int,
                  minutes: int) -> dict[str, str]:
    """The fire values for ``fire_min`` minutes, then the quiet ones until ``minutes`` (a
    counter goes on growing from where it was, at the quiet rate)."""
    out = {}
    n1, n2 = _steps(fire_min), _steps(minutes - fire_min)
    for sel in sorted(set(fire) | set(quiet)):
        f, q = fire.get(sel, Decimal(0)), quiet.get(sel, Decimal(0))
        if _kind_of(sel) == "gauge":
            out[sel] = f"{num(f)}x{n1} {num(q)}x{n2 - 1}"
        else:
            end = f * PER_STEP * n1
            out[sel] = (f"0+{num(f * PER_STEP)}x{n1} "
                        f"{num(end + q * PER_STEP)}+{num(q * PER_STEP)}x{n2 - 1}")
    return out


# ----------------------------------------------------------------------------- inputs
def ratio_inputs(errors: Series, total: Series, examples: Examples | None, ratio: Decimal,
                 minutes: int) -> dict[str, str]:
    err_rate = TOTAL_PER_MIN * ratio
    if errors.metric == total.metric:
        assert examples is not None
        return {labelled(errors.metric, examples.error): counter(err_rate, minutes),
                labelled(total.metric, examples.good): counter(TOTAL_PER_MIN - err_rate, minutes)}
    return {labelled(errors.metric, _equalities(errors)): counter(err_rate, minutes),
            labelled(total.metric, _equalities(total)): counter(TOTAL_PER_MIN, minutes)}


def window_inputs(sli: Sli, bad: bool, minutes: int) -> dict[str, str]:
    value, thr = sli.value, sli.threshold
    assert value is not None and thr is not None
    if value.type in ("gauge", "gauge_quantile"):
        assert value.series
        worse = thr * 2 if sli.op == ">" else thr / 2
        v = worse if bad else thr
        return {labelled(value.series.metric, _equalities(value.series)): gauge(v, minutes)}
    if value.type == "histogram_quantile":
        assert value.series and sli.op == ">"
        buckets = [Decimal(str(b)) for b in metric_names.BY_NAME[value.series.metric].buckets]
        i = buckets.index(thr)
        upper = buckets[i + 1] if bad else thr  # every observation in (thr, next] or (prev, thr]
        labels = _equalities(value.series)
        out = {}
        for b in buckets:
            rate = Decimal(60) if b >= upper else Decimal(0)
            out[labelled(value.series.metric + "_bucket", {**labels, "le": num(b)})] = \
                counter(rate, minutes)
        out[labelled(value.series.metric + "_bucket", {**labels, "le": "+Inf"})] = \
            counter(Decimal(60), minutes)
        return out
    assert value.errors and value.total
    ratio = thr * 2 if bad else thr * Decimal("0.9")
    return ratio_inputs(value.errors, value.total, value.examples, ratio, minutes)


# ----------------------------------------------------------------------------- cases
def _expected(rules: RuleSet, alert: str, extra: dict[str, str] | None = None,
              only: str | None = None) -> list[dict[str, Any]]:
    out = []
    for r in rules.rules_named(alert):
        if only and r.labels.get(conv.LABEL_SEVERITY_KIND) != only:
            continue
        out.append({"exp_labels": {**(extra or {}), **r.labels},
                    "exp_annotations": dict(r.annotations)})
    return out


def burn_cases(rules: RuleSet, table: WindowTable, svc: ServiceFile, slo: Slo) -> list[Case]:
    name = conv.burn_alert_name(svc.service, slo.name)
    labels = ids(svc, slo)
    minutes, at = 40, 30 * 60
    both = _expected(rules, name, labels)
    ticket = _expected(rules, name, labels, only=conv.TICKET)
    sli = slo.sli
    if sli.kind == "ratio":
        assert sli.errors and sli.total
        b = error_budget(slo)
        quick = max(w.factor for w in table.for_severity(conv.PAGE))
        slow_page = min(w.factor for w in table.for_severity(conv.PAGE))
        low_ticket = min(w.factor for w in table.for_severity(conv.TICKET))
        plans = [(f"pages and tickets at {num(quick)} x 1.25 burn", quick * b * Decimal("1.25"),
                  both),
                 (f"only tickets just below the {num(slow_page)} page burn",
                  slow_page * b * Decimal("0.9"), ticket),
                 (f"quiet just below the {num(low_ticket)} ticket burn",
                  low_ticket * b * Decimal("0.9"), [])]
        return [Case(f"{name}: {label} (error ratio {num(r)})", name, minutes,
                     ratio_inputs(sli.errors, sli.total, sli.examples, r, minutes),
                     [(at, exp)]) for label, r, exp in plans]
    return [Case(f"{name}: every window bad pages and tickets", name, minutes,
                 window_inputs(sli, True, minutes), [(at, both)]),
            Case(f"{name}: windows at the threshold are quiet", name, minutes,
                 window_inputs(sli, False, minutes), [(at, [])])]


def longest_range_s(expr: str) -> int:
    """The longest range selector of ``expr``: a rate over it is complete from then on."""
    return max((duration_s(m) for m in re.findall(r"\[(\d+[smhd])\]", expr)), default=0)


def timed_cases(rules: RuleSet, alert: str, for_: str, fire: dict[str, str] | None,
                quiet: dict[str, str], minutes: int, labels: dict[str, str] | None = None
                ) -> list[Case]:
    """Not firing one evaluation before ``for`` elapses; firing once ``for`` has elapsed
    after the condition's ranges filled (``for`` + longest range + one evaluation)."""
    f = duration_s(for_)
    onset = longest_range_s(rules.rules_named(alert)[0].expr)
    fire_checks: list[tuple[int, list[dict[str, Any]]]] = []
    if f > 0:
        fire_checks.append((f - EVAL_S, []))
    fire_checks.append((f + onset + EVAL_S, _expected(rules, alert, labels)))
    end = (minutes - 1) * 60
    return [Case(f"{alert}: fires once {for_} elapsed", alert, minutes, fire or {},
                 fire_checks),
            Case(f"{alert}: quiet just below the threshold", alert, minutes, quiet,
                 [(end, [])])]


def keep_firing_case(rules: RuleSet, alert: Alert, labels: dict[str, str]) -> Case:
    """An alert with ``keep_firing_for``: its condition holds long enough to fire, then
    stops for good. It is still firing ``keep_firing_for`` (less one evaluation) after the
    condition last held, so a condition that flaps within one incident stays one alert,
    and it has resolved once ``keep_firing_for`` has passed after the condition cleared
    (the longest range later)."""
    keep, hold = duration_s(alert.keep_firing_for), duration_s(alert.for_)
    onset = longest_range_s(rules.rules_named(alert.name)[0].expr)
    fire_min = (hold + onset) // 60 + 2
    end_s = fire_min * 60 + onset + keep + 2 * EVAL_S
    minutes = end_s // 60 + 2
    return Case(f"{alert.name}: still firing {alert.keep_firing_for} after its condition "
                "last held, then resolved", alert.name, minutes,
                phased_series(alert.fixture.fire, alert.fixture.quiet, fire_min, minutes),
                [(fire_min * 60 + keep - EVAL_S, _expected(rules, alert.name, labels)),
                 (end_s, [])])


def _minutes_for(for_: str, expr: str = "") -> int:
    return max(10, (duration_s(for_) + longest_range_s(expr)) // 60 + 6)


def service_cases(catalog: Catalog, rules: RuleSet, table: WindowTable, svc: ServiceFile
                  ) -> list[Case]:
    cases: list[Case] = []
    for slo in svc.slos:
        if slo.sli.kind != "zero":
            cases += burn_cases(rules, table, svc, slo)
        else:
            assert slo.alert and slo.sli.for_
            m = _minutes_for(slo.sli.for_, "[5m]")
            cases += timed_cases(rules, slo.alert, slo.sli.for_,
                                 window_inputs(slo.sli, True, m),
                                 window_inputs(slo.sli, False, m), m)
        absent = conv.absent_alert_name(svc.service, slo.name)
        m = _minutes_for(slo.absent_for)
        series = primary_series(slo.sli)
        present = {series: gauge(Decimal(1), m) if _kind_of(series) == "gauge"
                   else counter(Decimal(60), m)}
        cases += timed_cases(rules, absent, slo.absent_for, None, present, m)
    for alert in svc.alerts:
        m = _minutes_for(alert.for_, alert.expr)
        cases += timed_cases(rules, alert.name, alert.for_,
                             explicit_series(alert.fixture.fire, m),
                             explicit_series(alert.fixture.quiet, m), m,
                             dict(alert.fixture.labels))
        if duration_s(alert.keep_firing_for) > 0:
            cases.append(keep_firing_case(rules, alert, dict(alert.fixture.labels)))
    return cases


def render_test_file(cases: list[Case], rules_path: str) -> str:
    data = {"rule_files": [rules_path], "evaluation_interval": f"{EVAL_S}s",
            "tests": [c.to_dict() for c in cases]}
    head = ("# Generated by `vvtvctl slo generate` from the SLO catalog: per alert, series "
            "that must fire it\n# and series just below its threshold that must not. "
            "Do not edit.\n")
    return head + yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)


def build_fixtures(catalog: Catalog, rules: RuleSet, table: WindowTable,
                   rules_path: str = "../../" + conv.RULES_FILE) -> dict[str, str]:
    """``{file name: YAML}`` for ``ops/tests/``, one file per service."""
    return {f"{svc.service}_test.yaml":
            render_test_file(service_cases(catalog, rules, table, svc), rules_path)
            for svc in catalog.services}


def cases_by_alert(catalog: Catalog, rules: RuleSet, table: WindowTable) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = {}
    for svc in catalog.services:
        for c in service_cases(catalog, rules, table, svc):
            out.setdefault(c.alert, []).append(c)
    return out


