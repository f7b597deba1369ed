"""Usage commands: ``usage rollup --day`` (JSON, CSV, Parquet; optionally the billing
webhook), ``usage month --month`` and ``usage receiver`` (a billing endpoint for tests and
drills)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from vvtvlib.api import billing, rollup
from vvtvlib.api.config import load_api_config

from .common import JsonOpt, RootOpt, emit_json, errors_to_exit, out

usage = typer.Typer(no_args_is_help=True, help="API usage: daily rollups, billing webhook.")


@usage.command("rollup")
def rollup_cmd(day: str = typer.Option(..., "--day", help="The UTC day, YYYY-MM-DD."),
               billing_url: str | None = typer.Option(
                   None, "--billing-url",
                   help="POST each tenant-day to <URL>/billing/usage (default: [billing] url; "
                        "none: not sent)."),
               root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Write data/usage/rollups/DAY/usage_rollup_daily.{json,csv,parquet}; with a billing
    URL, deliver each tenant-day (signed, idempotent, retried). Exit 1 when a delivery
    failed."""
    with errors_to_exit(as_json):
        r = rollup.rollup_day(root, day)
        url = billing_url if billing_url is not None else load_api_config(root).billing.url
        deliveries = billing.deliver(root, r.tenants, url) if url else []
        failed = [d for d in deliveries if not d.delivered]
        if as_json:
            emit_json({**r.to_dict(), "deliveries": [d.to_dict() for d in deliveries]})
        else:
            table = Table("tenant_id", "requests", "errors", "tokens in", "tokens out",
                          "p50 ms", "p95 ms")
            for t in r.tenants:
                table.add_row(t.tenant_id, str(t.requests), str(t.errors), str(t.tokens_in),
                              str(t.tokens_out), str(t.p50_ms), str(t.p95_ms))
            out.print(table)
            for path in r.files.values():
                out.print(path)
            for d in deliveries:
                out.print(f"{d.idempotency_key}: {d.outcome} after {d.attempts} attempt(s)")
        if failed:
            raise typer.Exit(1)


@usage.command("month")
def month_cmd(month: str = typer.Option(..., "--month", help="YYYY-MM (UTC)."),
              root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Roll up every day of the month so far and print each tenant's sums (billable requests
    and tokens match the monthly quota counters)."""
    with errors_to_exit(as_json):
        totals = rollup.month_report(root, month, today=datetime.now(UTC).date())
        if as_json:
            emit_json({"month": month, "tenants": [t.__dict__ for t in totals.values()]})
            return
        table = Table("tenant_id", "days", "requests", "billable", "billable tokens")
        for t in totals.values():
            table.add_row(t.tenant_id, str(t.days), str(t.requests), str(t.billable_requests),
                          str(t.billable_tokens))
        out.print(table)


@usage.command("receiver")
def receiver_cmd(port: int = typer.Option(7090, "--port", help="Port to listen on."),
                 host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
                 root: Path = RootOpt) -> None:
    """A billing endpoint (POST /billing/usage): checks X-VVTV-Signature and its timestamp,
    keeps each Idempotency-Key once in data/usage/billing_received.sqlite."""
    with errors_to_exit(False):
        billing.serve_receiver(root, host, port)


def register(app: typer.Typer) -> None:
    app.add_typer(usage, name="usage")
