"""Live checks of exporters: does a ``/metrics`` endpoint export what its service declares?"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vvtvlib.core import metric_names

from .samples import scrape


@dataclass(frozen=True)
class ProbeResult:
    url: str
    services: list[str]
    found: list[str]
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def lab_metrics(sample_names: set[str]) -> set[str]:
    """The declared metric names a scrape shows (``_bucket`` etc. folded to the family)."""
    return {m.name for m in metric_names.ALL if set(m.series()) & sample_names}


def expected_for(found: set[str], exported: tuple[metric_names.MetricName, ...] | None = None
                 ) -> tuple[list[str], set[str]]:
    """Which services an exporter serves (those it exports anything of) and what they
    must export: ``exported`` when the exporter says, else every name of its services."""
    services = sorted({metric_names.BY_NAME[n].service for n in found})
    if exported is not None:
        return services, {m.name for m in exported}
    return services, {m.name for m in metric_names.ALL if m.service in services}


def probe_exporter(url: str, exported: tuple[metric_names.MetricName, ...] | None = None
                   ) -> ProbeResult:
    names = {s[0] for s in scrape(url)}
    found = lab_metrics(names)
    if exported is None and found & {m.name for m in station_exported()}:
        exported = station_exported()
    services, expected = expected_for(found, exported)
    return ProbeResult(url, services, sorted(found), sorted(expected - found))


def station_exported() -> tuple[metric_names.MetricName, ...]:
    from vvtvlib.station.metrics import STATION_METRICS

    return STATION_METRICS


def probe_exporters(urls: list[str]) -> list[ProbeResult]:
    return [probe_exporter(u) for u in urls]
