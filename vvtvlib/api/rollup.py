"""Daily usage rollups from ``usage_events`` (``vvtvctl usage rollup --day``) and the month
report that sums them (``vvtvctl usage month``).

``data/usage/rollups/YYYY-MM-DD/`` holds ``usage_rollup_daily.json``, ``.csv`` and
``.parquet`` (pandas + pyarrow): one row per tenant with requests, errors, errors by status
code, tokens in/out, bytes in/out, p50/p95 latency (nearest rank over whole milliseconds)
and what the monthly quota counts (``billable_requests``: answered ``/v1/infer`` calls;
``billable_tokens``: their tokens in + out). Nothing in them depends on when they were
written, so re-running a day yields identical bytes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import UsageError
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.stats import percentile

from .config import ApiLayout
from .tenants import UsageEvent, open_tenants

JSON_NAME, CSV_NAME, PARQUET_NAME = ("usage_rollup_daily.json", "usage_rollup_daily.csv",
                                     "usage_rollup_daily.parquet")
COLUMNS = ("day", "tenant_id", "requests", "errors", "errors_by_code", "tokens_in",
           "tokens_out", "bytes_in", "bytes_out", "p50_ms", "p95_ms", "billable_requests",
           "billable_tokens")


@dataclass(frozen=True)
class TenantDay:
    day: str
    tenant_id: str
    requests: int
    errors: int
    errors_by_code: dict[str, int]
    tokens_in: int
    tokens_out: int
    bytes_in: int
    bytes_out: int
    p50_ms: float | None
    p95_ms: float | None
    billable_requests: int
    billable_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rollup:
    day: str
    tenants: list[TenantDay]
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day, "tenants": [t.to_dict() for t in self.tenants],
                "files": self.files}


def parse_day(text: str) -> date:
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--day {text!r} is not a date (YYYY-MM-DD)") from None
    if len(text) != 10:
        raise UsageError(f"--day {text!r} is not a date (YYYY-MM-DD)")
    return d


def parse_month(text: str) -> tuple[int, int]:
    try:
        d = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise UsageError(f"--month {text!r} is not a month (YYYY-MM)") from None
    return d.year, d.month


def day_bounds_ms(d: date) -> tuple[int, int]:
    start = datetime(d.year, d.month, d.day, tzinfo=UTC)
    return int(start.timestamp() * 1000), int((start + timedelta(days=1)).timestamp() * 1000)


def summarize_day(day: str, events: list[UsageEvent]) -> list[TenantDay]:
    by_tenant: dict[str, list[UsageEvent]] = defaultdict(list)
    for e in events:
        by_tenant[e.tenant_id].append(e)
    rows = []
    for tid in sorted(by_tenant):
        evs = by_tenant[tid]
        codes: dict[str, int] = defaultdict(int)
        for e in evs:
            if e.status >= 400:
                codes[str(e.status)] += 1
        billed = [e for e in evs if e.route == "/v1/infer" and e.status == 200]
        d = [float(e.duration_ms) for e in evs]
        rows.append(TenantDay(
            day, tid, len(evs), sum(codes.values()), dict(sorted(codes.items())),
            sum(e.tokens_in for e in evs), sum(e.tokens_out for e in evs),
            sum(e.bytes_in for e in evs), sum(e.bytes_out for e in evs),
            percentile(d, 50), percentile(d, 95), len(billed),
            sum(e.tokens_in + e.tokens_out for e in billed)))
    return rows


def rollup_day(root: str | Path | None, day: str) -> Rollup:
    """Write the day's three files (replacing them) and return the rows."""
    d = parse_day(day)
    lay = ApiLayout(root)
    store = open_tenants(root)
    try:
        start, end = day_bounds_ms(d)
        rows = summarize_day(d.isoformat(), store.usage_all(start, end))
    finally:
        store.close()
    out = lay.rollup_dir(d.isoformat())
    out.mkdir(parents=True, exist_ok=True)
    doc = {"day": d.isoformat(), "tenants": [r.to_dict() for r in rows]}
    atomic_write(out / JSON_NAME, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    frame = _frame(rows)
    atomic_write(out / CSV_NAME, frame.to_csv(index=False, lineterminator="\n"))
    atomic_write(out / PARQUET_NAME, _parquet_bytes(frame))
    files = {k: str(out / n) for k, n in (("json", JSON_NAME), ("csv", CSV_NAME),
                                         ("parquet", PARQUET_NAME))}
    return Rollup(d.isoformat(), rows, files)


def _frame(rows: list[TenantDay]) -> Any:
    import pandas as pd

    records = [{**r.to_dict(), "errors_by_code": json.dumps(r.errors_by_code, sort_keys=True)}
               for r in rows]
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    for col in ("requests", "errors", "tokens_in", "tokens_out", "bytes_in", "bytes_out",
                "billable_requests", "billable_tokens"):
        frame[col] = frame[col].astype("int64")
    for col in ("p50_ms", "p95_ms"):
        frame[col] = frame[col].astype("float64")
    return frame


def _parquet_bytes(frame: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=True)
    return bytes(sink.getvalue().to_pybytes())


def read_parquet(path: str | Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return list(pq.read_table(str(path)).to_pylist())


@dataclass(frozen=True)
class MonthTotal:
    tenant_id: str
    days: int
    requests: int
    errors: int
    tokens_in: int
    tokens_out: int
    bytes_in: int
    bytes_out: int
    billable_requests: int
    billable_tokens: int


def month_report(root: str | Path | None, month: str, *,
                 today: date | None = None) -> dict[str, MonthTotal]:
    """Roll up every day of the month (up to ``today``) and sum the days per tenant."""
    year, mon = parse_month(month)
    day = date(year, mon, 1)
    last = today or datetime.now(UTC).date()
    sums: dict[str, dict[str, int]] = {}
    while day.month == mon and day <= last:
        for r in rollup_day(root, day.isoformat()).tenants:
            s = sums.setdefault(r.tenant_id, defaultdict(int))
            s["days"] += 1
            for k in ("requests", "errors", "tokens_in", "tokens_out", "bytes_in",
                      "bytes_out", "billable_requests", "billable_tokens"):
                s[k] += getattr(r, k)
        day += timedelta(days=1)
    return {tid: MonthTotal(tid, **s) for tid, s in sorted(sums.items())}
