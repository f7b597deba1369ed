"""``vvtvctl api init``: the seed's ``api/``, ``pool/``, ``logs/``, ``dashboards/`` trees and
``data/tenants.sqlite`` on a station root, with every key the API needs."""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import tomli_w

from vvtvlib.core.errors import DependencyMissing, UsageError
from vvtvlib.core.fsio import atomic_write
from vvtvlib.pool.config import lab_config, providers_path, write_pool_config
from vvtvlib.pool.tasks import copy_schemas

from . import gateway, jwtauth
from .config import ApiConfig, ApiLayout, ServerSettings
from .pki import CA, write_pair
from .secrets import MasterKey, new_master_key
from .tenants import TenantStore

BIN = {
    "start_gateway.sh": 'exec vvtvctl api up --root "$ROOT" --profile nginx "$@"',
    "stop_gateway.sh": 'exec vvtvctl api down --root "$ROOT" "$@"',
    "rotate_keys.sh": 'exec vvtvctl tenants rotate "$1" --root "$ROOT" "${@:2}"',
    "smoke.sh": 'exec vvtvctl api status --root "$ROOT" --json "$@"',
}


def _dashboard(title: str, exprs: list[tuple[str, str]]) -> str:
    panels = [{"id": i + 1, "type": "timeseries", "title": t,
               "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
               "targets": [{"expr": e, "refId": "A"}]} for i, (t, e) in enumerate(exprs)]
    return json.dumps({"title": title, "schemaVersion": 39, "panels": panels}, indent=2)


DASHBOARDS = {
    "api_health.json": _dashboard("API Health", [
        ("p95 by route", "histogram_quantile(0.95, sum by (le, route) "
                         "(rate(api_http_duration_ms_bucket[5m])))"),
        ("requests by code", "sum by (code) (rate(api_requests_total[5m]))"),
        ("rate limited", "sum by (tenant_id) (rate(api_rate_limited_total[5m]))"),
        ("5xx rate", "sum(rate(api_requests_total{code=~\"5..\"}[5m])) / "
                     "sum(rate(api_requests_total[5m]))")]),
    "tenant_usage.json": _dashboard("Tenant Usage", [
        ("requests by tenant", "sum by (tenant_id) (rate(api_http_duration_ms_count[5m]))"),
        ("p95 by tenant", "histogram_quantile(0.95, sum by (le, tenant_id) "
                          "(rate(api_http_duration_ms_bucket[5m])))"),
        ("quota exceeded", "sum by (tenant_id) (api_quota_exceeded_total)")]),
}


@dataclass(frozen=True)
class InitResult:
    root: str
    api_toml: str
    providers_toml: str
    jwks: str
    kid: str
    ca: str
    master_key: str
    tenants_db: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def api_init(root: str | Path | None, *, force: bool = False, port: int = 7070,
             gateway_port: int | None = None, tls_port: int | None = None,
             provider_ports: list[int] | None = None) -> InitResult:
    lay = ApiLayout(root)
    if lay.api_toml.exists() and not force:
        raise UsageError(f"{lay.api_toml} already exists; use --force to lay it out again",
                         path=lay.api_toml)
    for d in (lay.configs, lay.gateway, lay.tls, lay.schemas, lay.bin, lay.run,
              lay.logs / "audit", lay.dashboards, lay.keys, lay.tenants_db.parent):
        d.mkdir(parents=True, exist_ok=True)
    lay.keys.chmod(0o700)
    cfg = ApiConfig(server=ServerSettings(port=port, gateway_port=gateway_port or port + 1,
                                          tls_port=tls_port or 7443))
    atomic_write(lay.api_toml, "# pool-api and gateway settings (README: Epic N — the "
                 "public API)\n" + tomli_w.dumps(cfg.model_dump()))
    pool = lab_config()
    if provider_ports:
        if len(provider_ports) != len(pool.providers):
            raise UsageError(f"--provider-ports needs {len(pool.providers)} ports")
        pool = pool.model_copy(update={"providers": [
            p.model_copy(update={"base_url": f"http://127.0.0.1:{port_}"})
            for p, port_ in zip(pool.providers, provider_ports, strict=True)]})
    write_pool_config(providers_path(lay.root), pool)
    if force and lay.jwks.exists():
        lay.jwks.unlink()
    kid = jwtauth.new_signing_key(lay.keys, lay.jwks)
    ca = CA.create()
    ca.save(lay.tls / "ca.pem", lay.ca_key)
    write_pair(*ca.issue("api.vvtv.local", server=True), lay.tls / "server.pem",
               lay.tls / "server.key")
    if force or not lay.master_key.exists():
        new_master_key(lay.master_key)
    token = secrets.token_hex(32)
    atomic_write(lay.gateway_token, token + "\n", mode=0o600)
    with contextlib.suppress(DependencyMissing):  # no ModSecurity/CRS: `up --profile nginx`
        gateway.render(lay, cfg, token)           # says so; the embedded profile needs none
    TenantStore(lay.tenants_db, MasterKey.load(lay.master_key)).close()
    copy_schemas(lay.schemas)
    for name, line in BIN.items():
        atomic_write(lay.bin / name, "#!/usr/bin/env bash\n# thin wrapper over vvtvctl\n"
                     "set -euo pipefail\nROOT=\"${VVTV_ROOT:-$(cd \"$(dirname \"$0\")/../..\" "
                     "&& pwd)}\"\n" + line + "\n", mode=0o755)
    client = Path(__file__).resolve().parent / "templates" / "hmac_client.sh"
    atomic_write(lay.bin / "hmac_client.sh", client.read_bytes(), mode=0o755)
    for log in (lay.access_log, lay.error_log, lay.audit_log):
        log.touch(exist_ok=True)
    for name, text in DASHBOARDS.items():
        atomic_write(lay.dashboards / name, text + "\n")
    return InitResult(str(lay.root), str(lay.api_toml), str(providers_path(lay.root)),
                      str(lay.jwks), kid, str(lay.tls / "ca.pem"), str(lay.master_key),
                      str(lay.tenants_db))
