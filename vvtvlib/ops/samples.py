"""Recorded samples: scrapes of a ``/metrics`` endpoint over time, and the catalog's SLIs
evaluated on them in Python (the same definitions the generated PromQL encodes).

A recording is JSONL: one line per scrape, ``{"ts": epoch_s, "samples": [[name, {labels},
value], ...]}``. The evaluator follows Prometheus: ``quantile_over_time`` interpolates
linearly between ranks, ``histogram_quantile`` interpolates inside the bucket that holds
the rank, counters take resets into account.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import ConfigError, DependencyMissing

from .catalog import Series, Sli, duration_s

WINDOW_S = 300.0
LabelKey = tuple[tuple[str, str], ...]


@dataclass
class Scrape:
    ts: float
    samples: list[tuple[str, dict[str, str], float]]


@dataclass
class Recording:
    scrapes: list[Scrape] = field(default_factory=list)

    def names(self) -> set[str]:
        return {s[0] for sc in self.scrapes for s in sc.samples}

    def series(self, name: str, series: Series | None = None,
               extra: Callable[[dict[str, str]], bool] | None = None
               ) -> dict[LabelKey, list[tuple[float, float]]]:
        out: dict[LabelKey, list[tuple[float, float]]] = {}
        for sc in self.scrapes:
            for n, labels, value in sc.samples:
                if n != name or (series and not series.matches(labels)):
                    continue
                if extra and not extra(labels):
                    continue
                out.setdefault(tuple(sorted(labels.items())), []).append((sc.ts, value))
        return out

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as fh:
            for sc in self.scrapes:
                fh.write(json.dumps({"ts": sc.ts, "samples": sc.samples}) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Recording:
        rec = cls()
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            raise ConfigError(f"{path}: the recording does not exist", path=path) from None
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                rec.scrapes.append(Scrape(float(data["ts"]), [
                    (str(n), {str(k): str(v) for k, v in lab.items()}, float(val))
                    for n, lab, val in data["samples"]]))
            except (ValueError, KeyError, TypeError):
                raise ConfigError(f"{path}: line {i} is not a recorded scrape",
                                  path=path) from None
        return rec


# ----------------------------------------------------------------------------- scraping
def parse_exposition(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append((s.name, dict(s.labels), float(s.value)))
    return out


def scrape(url: str, timeout_s: float = 5.0) -> list[tuple[str, dict[str, str], float]]:
    try:
        resp = httpx.get(url, timeout=timeout_s)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise DependencyMissing(f"cannot scrape {url}: {exc}") from None
    return parse_exposition(resp.text)


def record(url: str, duration_s_: float, interval_s: float = 2.0, *,
           clock: Clock = SYSTEM_CLOCK, on_scrape: Callable[[Scrape], None] | None = None
           ) -> Recording:
    rec = Recording()
    end = clock.monotonic() + duration_s_
    while True:
        sc = Scrape(time.time(), scrape(url))
        rec.scrapes.append(sc)
        if on_scrape:
            on_scrape(sc)
        if clock.monotonic() + interval_s > end:
            return rec
        clock.sleep(interval_s)


# ----------------------------------------------------------------------------- evaluation
def _increase(points: list[tuple[float, float]], start: float, end: float) -> float | None:
    inside = [v for t, v in points if start < t <= end]
    if len(inside) < 2:
        return None
    total = 0.0
    for a, b in zip(inside, inside[1:], strict=False):
        total += b - a if b >= a else b  # a counter reset starts again from zero
    return total


def _sum_increase(series: dict[LabelKey, list[tuple[float, float]]], start: float,
                  end: float) -> float | None:
    values = [v for v in (_increase(p, start, end) for p in series.values()) if v is not None]
    return sum(values) if values else None


def quantile(q: float, values: list[float]) -> float:
    """Prometheus ``quantile_over_time``: linear interpolation between ranks."""
    vals = sorted(values)
    if not vals:
        return math.nan
    rank = q * (len(vals) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (rank - lo)


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus ``histogram_quantile`` over cumulative (upper bound, count) buckets."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][0] != math.inf or buckets[-1][1] <= 0:
        return math.nan
    rank = q * buckets[-1][1]
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == math.inf:
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


def window_value(sli: Sli, rec: Recording, at: float, window_s: float = WINDOW_S) -> float:
    """The window SLI's value over ``(at - window_s, at]`` (NaN when there is no data)."""
    value = sli.value
    assert value is not None
    start = at - window_s
    if value.type in ("gauge", "gauge_quantile"):
        assert value.series
        per = []
        for points in rec.series(value.series.metric, value.series).values():
            if value.type == "gauge":
                last = [v for t, v in points if t <= at]
                if last and t_within(points, start, at):
                    per.append(last[-1])
            else:
                vals = [v for t, v in points if start < t <= at and not math.isnan(v)]
                if vals:
                    per.append(quantile(float(value.quantile or 0), vals))
        if not per:
            return math.nan
        return max(per) if sli.op == ">" else min(per)
    if value.type == "histogram_quantile":
        assert value.series
        by_le: dict[float, float] = {}
        for key, points in rec.series(value.series.metric + "_bucket", value.series).items():
            le = float(dict(key)["le"].replace("+Inf", "inf"))
            inc = _increase(points, start, at)
            if inc is not None:
                by_le[le] = by_le.get(le, 0.0) + inc
        return histogram_quantile(float(value.quantile or 0), list(by_le.items()))
    assert value.errors and value.total
    return counter_ratio(rec, value.errors, value.total, start, at)


def t_within(points: list[tuple[float, float]], start: float, end: float) -> bool:
    return any(start < t <= end for t, _ in points)


def counter_ratio(rec: Recording, errors: Series, total: Series, start: float,
                  end: float) -> float:
    err = _sum_increase(rec.series(errors.metric, errors), start, end)
    tot = _sum_increase(rec.series(total.metric, total), start, end)
    if err is None or not tot:
        return math.nan
    return err / tot


def is_bad(sli: Sli, value: float) -> bool:
    if math.isnan(value) or sli.threshold is None:
        return False
    thr = float(sli.threshold)
    return value > thr if sli.op == ">" else value < thr


@dataclass(frozen=True)
class SliPoint:
    ts: float
    value: float
    bad: bool


def timeline(sli: Sli, rec: Recording, window_s: float = WINDOW_S) -> list[SliPoint]:
    """The SLI at every scrape: a window kind's value (and whether the window is bad), a
    ratio kind's error ratio over the window."""
    out = []
    for sc in rec.scrapes:
        if sli.kind == "ratio":
            assert sli.errors and sli.total
            v = counter_ratio(rec, sli.errors, sli.total, sc.ts - window_s, sc.ts)
            out.append(SliPoint(sc.ts, v, False))
        else:
            v = window_value(sli, rec, sc.ts, window_s)
            out.append(SliPoint(sc.ts, v, is_bad(sli, v)))
    return out


@dataclass(frozen=True)
class PeriodSli:
    error_ratio: float | None  # None: no data
    events: int = 0  # zero tolerance: incidents
    points: int = 0


def period_sli(sli: Sli, rec: Recording) -> PeriodSli:
    if not rec.scrapes:
        return PeriodSli(None)
    first, last = rec.scrapes[0].ts, rec.scrapes[-1].ts
    if sli.kind == "ratio":
        assert sli.errors and sli.total
        v = counter_ratio(rec, sli.errors, sli.total, first - 1, last)
        return PeriodSli(None if math.isnan(v) else v, points=len(rec.scrapes))
    points = [p for p in timeline(sli, rec) if not math.isnan(p.value)]
    if sli.kind == "window":
        if not points:
            return PeriodSli(None)
        return PeriodSli(sum(p.bad for p in points) / len(points), points=len(points))
    hold = duration_s(sli.for_ or "0s")
    events, since = 0, None
    counted = False
    for p in points:
        if p.bad:
            since = p.ts if since is None else since
            if not counted and p.ts - since >= hold:
                events += 1
                counted = True
        else:
            since, counted = None, False
    return PeriodSli(1.0 if events else 0.0, events=events, points=len(points))
