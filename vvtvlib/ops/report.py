"""What the O1 drill shows: per-alert promtool results and SLIs from a short live run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.layout import StationLayout

from . import conventions as conv
from .catalog import slo_id
from .fixtures import cases_by_alert
from .generate import REPO, Generated
from .promtool import run_cases
from .samples import Recording, record, timeline


@dataclass(frozen=True)
class FixtureResult:
    alert: str
    service: str
    severity: str
    kind: str
    runbook: str
    cases: int
    passed: bool
    output: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fixture_results(gen: Generated, repo: Path = REPO) -> list[FixtureResult]:
    """Each alert's fixtures run on their own through promtool."""
    cases = cases_by_alert(gen.catalog, gen.rules, gen.table)
    out, seen = [], set()
    for spec in gen.rules.alerts:
        if spec.name in seen:
            continue
        seen.add(spec.name)
        result = run_cases(cases[spec.name], repo / conv.RULES_FILE)
        out.append(FixtureResult(spec.name, spec.service, spec.severity, spec.kind, spec.runbook,
                                 len(cases[spec.name]), result.ok,
                                 result.output.splitlines()[-1] if result.output else ""))
    return out


def live_recording(layout: StationLayout, seconds: float, interval_s: float = 2.0) -> Recording:
    from vvtvlib.station.metrics import metrics_url

    return record(metrics_url(layout), seconds, interval_s)


@dataclass(frozen=True)
class SliSeries:
    slo: str
    title: str
    unit: str
    threshold: float | None
    t: list[float]  # seconds since the first scrape
    values: list[float]

    @property
    def measured(self) -> int:
        return sum(not math.isnan(v) for v in self.values)


def sli_series(gen: Generated, rec: Recording, window_s: float = 60.0) -> list[SliSeries]:
    """Every SLI the recording has data for, evaluated at each scrape (a short run uses a
    short window instead of the 5-minute one)."""
    from .dashboards import _unit

    if not rec.scrapes:
        return []
    t0 = rec.scrapes[0].ts
    out = []
    for svc, slo in gen.catalog.slos():
        points = timeline(slo.sli, rec, window_s)
        if all(math.isnan(p.value) for p in points):
            continue
        thr = float(slo.sli.threshold) if slo.sli.threshold is not None else None
        out.append(SliSeries(slo_id(svc, slo), slo.title, _unit(svc, slo), thr,
                             [p.ts - t0 for p in points], [p.value for p in points]))
    return out


def plot_slis(series: list[SliSeries]) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(9, 2.4 * len(series)), squeeze=False)
    for ax, s in zip(axes[:, 0], series, strict=False):
        ax.plot(s.t, s.values, marker=".", label=s.title)
        if s.threshold is not None:
            ax.axhline(s.threshold, color="red", linestyle="--", label=f"threshold {s.threshold:g}")
        ax.set_title(f"{s.slo} ({s.unit})")
        ax.set_xlabel("seconds")
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig
