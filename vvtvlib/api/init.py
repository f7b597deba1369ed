"""``vvtvctl api init``: the seed's ``api/``, ``pool/``, ``logs/``, ``dashboards/`` trees and
``data/tenants.sqlite`` on a station root, with every key the API needs."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import tomli_w

from vvtvlib.core.errors import DependencyMissing, UsageError
from vvtvlib.core.fsio import atomic_write
from vvtvlib.pool.config import lab_config, providers_path, write_pool_config
from vvtvlib.pool.tasks import copy_schemas

from . import gateway, jwtauth, openapi
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
             provider_ports: list[int] | None = None,
             dashboards: dict[str, str] | None = None) -> InitResult:
    """Lay out the API's tree. ``dashboards`` (file name -> Grafana JSON) are written to
    ``dashboards/``: ``vvtvctl api init`` passes the ones ``vvtvlib.ops.dashboards`` builds
    with grafana-foundation-sdk (this layer cannot import ops)."""
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
    atomic_write(lay.openapi, openapi.render())  # the same bytes as docs/openapi.json
    for name, line in BIN.items():
        atomic_write(lay.bin / name, "#!/usr/bin/env bash\n# thin wrapper over vvtvctl\n"
                     "set -euo pipefail\nROOT=\"${VVTV_ROOT:-$(cd \"$(dirname \"$0\")/../..\" "
                     "&& pwd)}\"\n" + line + "\n", mode=0o755)
    client = Path(__file__).resolve().parent / "templates" / "hmac_client.sh"
    atomic_write(lay.bin / "hmac_client.sh", client.read_bytes(), mode=0o755)
    for log in (lay.access_log, lay.error_log):
        log.touch(exist_ok=True)
    if not lay.audit_log.exists():  # an evidence log: created by its first append, with its
        lay.audit_log.touch()       # anchor; an empty file without one is a valid start
    for name, text in (dashboards or {}).items():
        atomic_write(lay.dashboards / name, text)
    return InitResult(str(lay.root), str(lay.api_toml), str(providers_path(lay.root)),
                      str(lay.jwks), kid, str(lay.tls / "ca.pem"), str(lay.master_key),
                      str(lay.tenants_db))
