"""PromQL built from the catalog's structured SLIs, and metric names read back from PromQL.

``window_value(sli, "5m")`` is a window SLI's value over 5 minutes; ``error_ratio(sli, w)``
is the error ratio over ``w`` (events for ``ratio``, 0/1 per evaluation for ``window``);
``period_error_query`` is the 7-day error ratio straight from raw metrics (subqueries), so a
Prometheus without the generated rules can still answer ``vvtvctl slo budget``.
"""

from __future__ import annotations

import re
from decimal import Decimal

from .catalog import Series, Sli, Value

_KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
             "group_right", "offset", "inf", "nan", "le"}


def num(d: Decimal) -> str:
    """A Decimal as PromQL text, without float noise or exponent (0.005, 13.44, 30)."""
    text = format(d.normalize(), "f")
    return text


def _agg(op: str) -> str:
    return "max" if op == ">" else "min"


def window_value(value: Value, window: str, op: str = ">") -> str:
    if value.type == "gauge":
        assert value.series
        return f"{_agg(op)}({value.series.selector()})"
    if value.type == "gauge_quantile":
        assert value.series and value.quantile is not None
        return (f"{_agg(op)}(quantile_over_time({num(value.quantile)}, "
                f"{value.series.selector()}[{window}]))")
    if value.type == "histogram_quantile":
        assert value.series and value.quantile is not None
        return (f"histogram_quantile({num(value.quantile)}, sum by (le) "
                f"(rate({value.series.selector('_bucket')}[{window}])))")
    assert value.errors and value.total
    return counter_ratio(value.errors, value.total, window)


def counter_ratio(errors: Series, total: Series, window: str) -> str:
    return (f"(sum(rate({errors.selector()}[{window}])) / "
            f"sum(rate({total.selector()}[{window}])))")


def bad_window(sli: Sli, window: str = "5m") -> str:
    """1 when the window is bad, 0 when good (the ``window`` kind's 5-minute indicator)."""
    assert sli.value and sli.threshold is not None
    return f"({window_value(sli.value, window, sli.op)} {sli.op} bool {num(sli.threshold)})"


def condition(sli: Sli) -> str:
    """The zero-tolerance condition (an alert expression)."""
    assert sli.value and sli.threshold is not None
    return f"{window_value(sli.value, '5m', sli.op)} {sli.op} {num(sli.threshold)}"


def raw_error_ratio(sli: Sli, window: str) -> str:
    if sli.kind == "ratio":
        assert sli.errors and sli.total
        return counter_ratio(sli.errors, sli.total, window)
    return bad_window(sli, "5m")


def period_error_query(sli: Sli, period: str = "7d", step: str = "1m") -> str:
    if sli.kind == "ratio":
        return raw_error_ratio(sli, period)
    if sli.kind == "window":
        return f"avg_over_time({bad_window(sli)}[{period}:{step}])"
    # zero tolerance: subquery steps at which the condition had held for `for` (0 when it
    # never did, nothing when there is no data)
    assert sli.value and sli.value.series and sli.threshold is not None and sli.for_
    held = "max_over_time" if sli.op == "<" else "min_over_time"
    cond = (f"{_agg(sli.op)}({held}({sli.value.series.selector()}[{sli.for_}])) "
            f"{sli.op} bool {num(sli.threshold)}")
    return f"sum_over_time(({cond})[{period}:{step}])"


def primary_series(sli: Sli) -> str:
    """The sample name whose absence means the SLI's exporter is silent."""
    from vvtvlib.core import metric_names

    series = sli.total or (sli.value.total if sli.value else None) or \
        (sli.value.series if sli.value else None)
    assert series is not None
    m = metric_names.BY_NAME.get(series.metric)
    return f"{series.metric}_count" if m and m.kind == "histogram" else series.metric


def metric_names_in(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (strings, matchers, groupings skipped)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text):
        word = m.group(1)
        if word.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names
