"""The one percentile every report, rollup, load summary and router uses, and the one
confidence bound for a rate measured on few requests.

Nearest rank: the smallest observed value with at least ``q`` % of the values at or below it
(exact, and always a value that was really measured; no interpolation, no buckets).

    percentile([1, 2, 3, 4], 50) -> 2        percentile([], 95) -> None
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float, ndigits: int | None = None) -> float | None:
    """The ``q``-th percentile (0 < q <= 100) of ``values`` by nearest rank, rounded to
    ``ndigits`` when given; None if there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered) / 100)
    value = float(ordered[min(len(ordered), max(1, rank)) - 1])
    return value if ndigits is None else round(value, ndigits)


def _wilson(events: int, trials: int, z: float) -> tuple[float, float]:
    p = events / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return (centre - margin) / (1 + z2 / trials), (centre + margin) / (1 + z2 / trials)


def wilson_low(events: int, trials: int, z: float = 1.96) -> float:
    """The lower end of the Wilson score interval (95 % for z = 1.96) of a rate of ``events``
    in ``trials``: the smallest true rate the observation does not rule out. 0 for no trials.

    One 5xx in 40 requests is 2.5 %, but the data do not rule out a true rate under 0.5 %
    (``wilson_low(1, 40)`` is 0.44 %); two in 40 do (1.4 %)."""
    if trials <= 0:
        return 0.0
    return max(0.0, _wilson(events, trials, z)[0])


def wilson_high(events: int, trials: int, z: float = 1.96) -> float:
    """The upper end of the same interval: the largest true rate not ruled out (1 for no
    trials). No 5xx in 170 requests still allows 2.2 %."""
    if trials <= 0:
        return 1.0
    return min(1.0, _wilson(events, trials, z)[1])


@dataclass(frozen=True)
class RateCheck:
    """``events`` in ``trials`` judged against an objective (the highest rate allowed):
    the objective holds unless the data rule it out, i.e. unless the lower end of the 95 %
    interval reaches it. On few trials that forgives one unlucky event (1 in 170 is 0.59 %,
    but its interval, 0.10-3.3 %, holds 0.5 %) and still fails a real regression (5 in
    170, 2.9 %: 1.3-6.7 %)."""

    events: int
    trials: int
    objective: float
    rate: float
    low95: float
    high95: float
    fails_from: int  # the fewest events in these trials that would rule the objective out

    @property
    def consistent(self) -> bool:
        return self.trials > 0 and self.low95 < self.objective


def check_rate(events: int, trials: int, objective: float) -> RateCheck:
    """Judge ``events`` in ``trials`` against ``objective`` (e.g. 0.005 for 5xx < 0.5 %)."""
    events, trials = max(0, events), max(0, trials)
    fails_from = next((k for k in range(trials + 1) if wilson_low(k, trials) >= objective),
                      trials + 1)
    return RateCheck(events, trials, objective, events / trials if trials else 0.0,
                     wilson_low(events, trials), wilson_high(events, trials), fails_from)


__all__ = ["RateCheck", "check_rate", "percentile", "wilson_high", "wilson_low"]
