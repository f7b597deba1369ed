"""Usage summaries from ``usage_events`` (``GET /v1/usage``; billing rollups build on it)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from vvtvlib.core.stats import percentile

from .tenants import UsageEvent


def summarize(events: list[UsageEvent]) -> dict[str, Any]:
    def block(evs: list[UsageEvent]) -> dict[str, Any]:
        d = [float(e.duration_ms) for e in evs]
        codes: dict[str, int] = defaultdict(int)
        for e in evs:
            if e.status >= 400:
                codes[str(e.status)] += 1
        return {"requests": len(evs), "errors": sum(codes.values()),
                "errors_by_code": dict(sorted(codes.items())),
                "tokens_in": sum(e.tokens_in for e in evs),
                "tokens_out": sum(e.tokens_out for e in evs),
                "bytes_in": sum(e.bytes_in for e in evs),
                "bytes_out": sum(e.bytes_out for e in evs),
                "p50_ms": percentile(d, 50), "p95_ms": percentile(d, 95)}
    by_route: dict[str, list[UsageEvent]] = defaultdict(list)
    for e in events:
        by_route[e.route].append(e)
    return {**block(events), "by_route": {r: block(v) for r, v in sorted(by_route.items())}}
