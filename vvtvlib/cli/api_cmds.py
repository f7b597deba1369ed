"""API commands: ``api init|up|down|status``, ``api jwt issue``, ``api jwks rotate``,
``api cert issue``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vvtvlib.api import jwtauth
from vvtvlib.api.audit import tenant_event
from vvtvlib.api.config import ApiLayout, load_api_config
from vvtvlib.api.init import api_init
from vvtvlib.api.pki import CA, write_pair
from vvtvlib.api.supervisor import api_down, api_status, api_up
from vvtvlib.api.tenants import open_tenants, parse_scopes
from vvtvlib.core.errors import UsageError

from .common import JsonOpt, RootOpt, emit_json, errors_to_exit, out

api = typer.Typer(no_args_is_help=True, help="The public API: init, up, down, status, JWT.")
jwt_app = typer.Typer(no_args_is_help=True, help="Lab JWT tokens.")
jwks_app = typer.Typer(no_args_is_help=True, help="The JWT signing keys (jwks.json).")
cert_app = typer.Typer(no_args_is_help=True, help="Client certificates from the lab CA.")


@api.command("init")
def init(root: Path = RootOpt,
         force: bool = typer.Option(False, "--force", help="Lay the tree out again."),
         port: int = typer.Option(7070, "--port", help="pool-api port (gateway: port + 1)."),
         gateway_port: int | None = typer.Option(None, "--gateway-port",
                                                 help="nginx HTTP port (default port + 1)."),
         tls_port: int | None = typer.Option(None, "--tls-port",
                                             help="nginx TLS port (default 7443)."),
         provider_ports: str | None = typer.Option(
             None, "--provider-ports", help="Emulator ports, comma-separated (3)."),
         as_json: bool = JsonOpt) -> None:
    """Lay out api/, pool/, logs/, dashboards/, data/tenants.sqlite and the API's keys."""
    with errors_to_exit(as_json):
        ports = None
        if provider_ports:
            try:
                ports = [int(p) for p in provider_ports.split(",")]
            except ValueError:
                raise UsageError("--provider-ports must be numbers separated by commas"
                                 ) from None
        from vvtvlib.ops.dashboards import api_dashboards

        r = api_init(root, force=force, port=port, gateway_port=gateway_port,
                     tls_port=tls_port, provider_ports=ports, dashboards=api_dashboards())
        if as_json:
            emit_json(r.to_dict())
        else:
            out.print(f"API laid out under {r.root} (jwt kid {r.kid})")


@api.command("up")
def up(root: Path = RootOpt,
       profile: str = typer.Option("embedded", "--profile", help="embedded | nginx."),
       workers: int = typer.Option(1, "--workers", help="uvicorn workers."),
       limits: str = typer.Option("memory", "--limits", help="memory | sqlite | redis."),
       timeout: float = typer.Option(60, "--timeout", help="Seconds to wait for ready."),
       as_json: bool = JsonOpt) -> None:
    """Start emulators, pool-api, redis-server and nginx; return once ready is 200."""
    with errors_to_exit(as_json):
        st = api_up(root, profile=profile, workers=workers, limits=limits, timeout_s=timeout)
        if as_json:
            emit_json(st)
        else:
            out.print(st["base_url"])


@api.command("down")
def down(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Graceful stop: nginx drains, pool-api drains, then redis and the emulators."""
    with errors_to_exit(as_json):
        r = api_down(root)
        if as_json:
            emit_json(r)
        else:
            out.print("stopped" if r["was_running"] else "was not running")


@api.command("status")
def status(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Every process, URL and the limits backend (exit 1 when down or not ready)."""
    with errors_to_exit(as_json):
        st = api_status(root)
        if as_json:
            emit_json(st)
        else:
            out.print(f"up={st['up']} ready={st['ready']} {st.get('base_url', '')} "
                      f"limits={st.get('limits', '-')}")
            for p in st["processes"]:
                out.print(f"  {p['name']:20} pid {p['pid']:<7} alive={p['alive']} "
                          f"{p.get('url') or ''}")
        if not (st["up"] and st["ready"]):
            raise typer.Exit(1)


@api.command("loadtest")
def loadtest(profile: str = typer.Option(..., "--profile", help="A profile of "
                                         "loadtests/profiles.toml (small, large, sustained, "
                                         "soak, small-ci, large-ci, sustained-ci)."),
             out_dir: Path | None = typer.Option(None, "--out",
                                                 help="Folder for Locust's CSV and the "
                                                      "summary (default reports/load)."),
             duration: int | None = typer.Option(None, "--duration",
                                                 help="Seconds, overriding the profile's."),
             root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Run Locust headless against the running API: CSV, summary and the go/no-go (exit 1
    on NO-GO)."""
    from vvtvlib.api.loadtest import REPO, run_loadtest

    with errors_to_exit(as_json):
        if duration is not None and duration < 1:
            raise UsageError("--duration must be at least 1 second")
        r = run_loadtest(root, profile, out_dir or REPO / "reports" / "load",
                         duration_s=duration)
        if as_json:
            emit_json(r.to_dict())
        else:
            s = r.summary
            out.print(f"{s.profile}: {s.requests} requests, {s.rps} rps, p50/p95/p99 "
                      f"{s.p50_ms}/{s.p95_ms}/{s.p99_ms} ms, 5xx {s.rate_5xx:.2%}, "
                      f"timeouts {s.timeouts}, 429 (well-behaved) "
                      f"{s.rate_429_well_behaved:.2%}, cache hits {s.cache_hit_rate:.0%}, "
                      f"hedge rate {s.hedge_rate}, breaker opens {s.breaker_opens}")
            for sig in r.go_no_go.signals:
                out.print(f"  {sig.verdict:4} {sig.name}: {sig.value} ({sig.threshold})")
            out.print(f"summary: {r.summary_json}")
        if not r.go_no_go.passed:
            raise typer.Exit(1)


@jwt_app.command("issue")
def jwt_issue(tenant: str = typer.Option(..., "--tenant", help="Tenant id or name."),
              scopes: str = typer.Option('["infer"]', "--scopes", help="JSON array."),
              ttl: int = typer.Option(600, "--ttl", help="Seconds (at most 900)."),
              root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Sign a bearer token with the lab's newest Ed25519 key."""
    with errors_to_exit(as_json):
        cfg, lay = load_api_config(root), ApiLayout(root)
        if ttl > cfg.auth.jwt_max_ttl_s:
            raise UsageError(f"--ttl may be at most {cfg.auth.jwt_max_ttl_s} s")
        t = open_tenants(root).get(tenant)
        token = jwtauth.issue(lay.keys, lay.jwks, tenant_id=t.id,
                              scopes=list(parse_scopes(scopes)), ttl_s=ttl,
                              issuer=cfg.auth.jwt_issuer, audience=cfg.auth.jwt_audience)
        if as_json:
            emit_json({"token": token, "tenant_id": t.id})
        else:
            out.print(token, soft_wrap=True)


@jwks_app.command("rotate")
def jwks_rotate(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """A new signing key (a new kid) joins jwks.json; the old ones stay valid for 7 days."""
    with errors_to_exit(as_json):
        lay = ApiLayout(root)
        kid = jwtauth.new_signing_key(lay.keys, lay.jwks,
                                      grace_s=load_api_config(root).auth.key_grace_s)
        kids = [k["kid"] for k in json.loads(lay.jwks.read_text())["keys"]]
        tenant_event(lay.audit_log, "jwks_rotate", None, actor="vvtvctl", kid=kid,
                     valid=kids)
        if as_json:
            emit_json({"kid": kid, "valid": kids})
        else:
            out.print(f"new kid {kid}; valid: {', '.join(kids)}")


@cert_app.command("issue")
def cert_issue(cn: str = typer.Option(..., "--cn", help="The certificate's CN."),
               out_dir: Path = typer.Option(..., "--out", help="Folder for CN.pem/CN.key."),
               root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """A client certificate from the lab CA (map it with `vvtvctl tenants map-cert`)."""
    with errors_to_exit(as_json):
        lay = ApiLayout(root)
        ca = CA.load(lay.tls / "ca.pem", lay.ca_key)
        cert, key = out_dir / f"{cn}.pem", out_dir / f"{cn}.key"
        out_dir.mkdir(parents=True, exist_ok=True)
        write_pair(*ca.issue(cn, server=False), cert, key)
        if as_json:
            emit_json({"cert": str(cert), "key": str(key)})
        else:
            out.print(f"wrote {cert} and {key}")


def register(app: typer.Typer) -> None:
    api.add_typer(jwt_app, name="jwt")
    api.add_typer(jwks_app, name="jwks")
    api.add_typer(cert_app, name="cert")
    app.add_typer(api, name="api")
