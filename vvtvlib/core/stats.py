"""The one percentile every report, rollup, load summary and router uses.

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


__all__ = ["percentile"]
