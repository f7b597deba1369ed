"""The one percentile every report, rollup, load summary and router uses, and the one
confidence bound for a rate measured on few requests.

Nearest rank: the smallest observed value with at least ``q`` % of the values at or below it
(exact, and always a value that was really measured; no interpolation, no buckets).

    percentile([1, 2, 3, 4], 50) -> 2        percentile([], 95) -> None
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float, ndigits: int | None = None) -> float | None:
    """The ``q``-th percentile (0 < q <= 100) of ``values`` by nearest rank, rounded to
    ``ndigits`` when given; None if there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered) / 100)
    value = float(ordered[min(len(ordered), max(1, rank)) - 1])
    return value if ndigits is None else round(value, ndigits)


def wilson_low(events: int, trials: int, z: float = 1.96) -> float:
    """The lower end of the Wilson score interval (95 % for z = 1.96) of a rate of ``events``
    in ``trials``: the smallest true rate the observation does not rule out. 0 for no trials.

    One 5xx in 40 requests is 2.5 %, but the data do not rule out a true rate under 0.5 %
    (``wilson_low(1, 40)`` is 0.44 %); two in 40 do (1.4 %)."""
    if trials <= 0:
        return 0.0
    p = events / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, (centre - margin) / (1 + z2 / trials))


__all__ = ["percentile", "wilson_low"]
