"""Tenant commands: ``tenants create|list|show|suspend|resume|set-limits|map-cert|rotate``.

Changes reach running pool-api workers within one second (no restart). Secrets are printed
once, by ``create`` and ``rotate``, and never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vvtvlib.api.audit import key_fingerprint, tenant_event
from vvtvlib.api.config import ApiLayout, load_api_config
from vvtvlib.api.tenants import Credentials, Tenant, open_tenants, parse_scopes

from .common import JsonOpt, RootOpt, emit_json, errors_to_exit, out

tenants = typer.Typer(no_args_is_help=True, help="API tenants: keys, limits, scopes.")
TenantArg = typer.Argument(..., help="Tenant id (t_...) or name.")


def _audit(root: Path | None, event: str, tenant_id: str, **details: Any) -> None:
    """The tenant event, in the API's audit chain (``logs/audit/api_requests.jsonl``)."""
    tenant_event(ApiLayout(root).audit_log, event, tenant_id, actor="vvtvctl", **details)


def _print_creds(c: Credentials, as_json: bool) -> None:
    if as_json:
        emit_json(c.to_dict())
        return
    out.print(f"tenant_id      {c.tenant_id}\napi_public_key {c.api_public_key}\n"
              f"api_secret     {c.api_secret}")
    if c.old_key_expires_at is not None:
        out.print(f"old keys stop  {c.old_key_expires_at} (epoch ms)")
    out.print("[yellow]The secret is shown once: send it to the tenant out of band.[/]")


def _print_tenant(t: Tenant, as_json: bool, extra: dict[str, object] | None = None) -> None:
    if as_json:
        emit_json({**t.to_dict(), **(extra or {})})
        return
    for k, v in {**t.to_dict(), **(extra or {})}.items():
        out.print(f"{k:15} {v}")


@tenants.command("create")
def create(name: str = typer.Option(..., "--name", help="Display name."),
           plan: str = typer.Option("free", "--plan", help="free | pro | enterprise."),
           rpm: int = typer.Option(..., "--rpm", help="Requests per minute (refill)."),
           burst: int = typer.Option(..., "--burst", help="Bucket capacity (burst)."),
           tpm: int | None = typer.Option(None, "--tpm", help="Tokens per minute (optional)."),
           scopes: str = typer.Option('["infer"]', "--scopes",
                                      help='JSON array: infer, usage, keys:rotate.'),
           root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Create a tenant; prints tenant_id, api_public_key and api_secret (once)."""
    with errors_to_exit(as_json):
        if plan not in load_api_config(root).plans:
            from vvtvlib.core.errors import UsageError
            raise UsageError(f"unknown plan {plan!r}; see [plans] in api/configs/api.toml")
        store = open_tenants(root)
        creds = store.create(name, plan, rpm, burst, parse_scopes(scopes), tpm)
        _audit(root, "create", creds.tenant_id, plan=plan, rpm=rpm, burst=burst, tpm=tpm,
               scopes=parse_scopes(scopes), key=key_fingerprint(creds.api_public_key))
        _print_creds(creds, as_json)


@tenants.command("list")
def list_(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Every tenant with its plan, status and limits (no secrets)."""
    with errors_to_exit(as_json):
        rows = open_tenants(root).all()
        if as_json:
            emit_json([t.to_dict() for t in rows])
            return
        table = Table("tenant_id", "name", "status", "plan", "rpm", "burst", "scopes")
        for t in rows:
            table.add_row(t.id, t.name, t.status, t.plan, str(t.rpm_limit), str(t.rps_burst),
                          ",".join(t.scopes))
        out.print(table)


@tenants.command("show")
def show(tenant: str = TenantArg, root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """One tenant, its keys (fingerprints, expiry) and certificate mappings."""
    with errors_to_exit(as_json):
        store = open_tenants(root)
        t = store.get(tenant)
        _print_tenant(t, as_json, {"keys": store.keys_of(t.id)})


@tenants.command("suspend")
def suspend(tenant: str = TenantArg, root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Refuse the tenant's calls (403) from the next second on."""
    with errors_to_exit(as_json):
        t = open_tenants(root).set_status(tenant, "suspended")
        _audit(root, "suspend", t.id)
        _print_tenant(t, as_json)


@tenants.command("resume")
def resume(tenant: str = TenantArg, root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Accept the tenant's calls again."""
    with errors_to_exit(as_json):
        t = open_tenants(root).set_status(tenant, "active")
        _audit(root, "resume", t.id)
        _print_tenant(t, as_json)


@tenants.command("set-limits")
def set_limits(tenant: str = TenantArg,
               rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute."),
               burst: int | None = typer.Option(None, "--burst", help="Burst."),
               tpm: int | None = typer.Option(None, "--tpm", help="Tokens per minute."),
               plan: str | None = typer.Option(None, "--plan", help="Plan (monthly quotas)."),
               scopes: str | None = typer.Option(None, "--scopes", help="JSON array."),
               root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Change limits, plan or scopes; running workers apply them within a second."""
    with errors_to_exit(as_json):
        sc = parse_scopes(scopes) if scopes is not None else None
        t = open_tenants(root).set_limits(tenant, rpm=rpm, burst=burst, tpm=tpm, plan=plan,
                                          scopes=sc)
        _audit(root, "limits", t.id, rpm=t.rpm_limit, burst=t.rps_burst, tpm=t.tpm_limit,
               plan=t.plan, scopes=list(t.scopes))
        _print_tenant(t, as_json)


@tenants.command("map-cert")
def map_cert(tenant: str = TenantArg,
             cn: str = typer.Option(..., "--cn", help="Client certificate CN."),
             root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Map a client certificate's CN (mTLS through the gateway) to the tenant."""
    with errors_to_exit(as_json):
        store = open_tenants(root)
        store.map_cert(tenant, cn)
        t = store.get(tenant)
        _audit(root, "map_cert", t.id, cn=cn)
        if as_json:
            emit_json({"cn": cn, "tenant_id": t.id})
        else:
            out.print(f"{cn} -> {t.id}")


@tenants.command("rotate")
def rotate(tenant: str = TenantArg,
           revoke_now: bool = typer.Option(False, "--revoke-now",
                                           help="The old keys stop now (a leaked key)."),
           root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """A new key works now; the old one until T0+7d (or now with --revoke-now). A second
    rotation within 24 h is refused (exit 1), except with --revoke-now."""
    with errors_to_exit(as_json):
        auth = load_api_config(root).auth
        creds = open_tenants(root).rotate(tenant, grace_s=auth.key_grace_s,
                                          revoke_now=revoke_now,
                                          min_interval_s=auth.rotate_every_s)
        _audit(root, "rotate", creds.tenant_id, new_key=key_fingerprint(creds.api_public_key),
               old_key_expires_at=creds.old_key_expires_at)
        if revoke_now:
            _audit(root, "revoke", creds.tenant_id, reason="--revoke-now")
        _print_creds(creds, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(tenants, name="tenants")
