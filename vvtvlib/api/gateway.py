"""The nginx profile: render ``api/gateway/nginx.conf`` from the seed's example and run
Debian's nginx (with ModSecurity and the OWASP CRS) as a child with its own prefix.

As in the station's nginx profile, the master stays in the foreground (``daemon off``) as
the supervisor's child; when the supervisor is root, workers run as ``nobody`` if they can
traverse the root (else as the supervisor's user: nginx then listens on 127.0.0.1 only).
"""

from __future__ import annotations

import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path

from vvtvlib.core.errors import DependencyMissing
from vvtvlib.core.fsio import atomic_write
from vvtvlib.station.nginx import _traversable_by_nobody, nginx_exe

from .config import ApiConfig, ApiLayout
from .errors import (
    BAD_REQUEST_MESSAGE,
    HTTP_METHODS,
    METHOD_NOT_ALLOWED_MESSAGE,
    NOT_FOUND_MESSAGE,
    allow_for,
)
from .openapi import ROUTES

TEMPLATES = Path(__file__).resolve().parent / "templates"
MODSEC_MODULES = ("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so",
                  "/usr/share/nginx/modules/ngx_http_modsecurity_module.so")
CRS_SETUP = Path("/etc/modsecurity/crs/crs-setup.conf")
CRS_RULES = Path("/usr/share/modsecurity-crs/rules")


def modsecurity_module() -> str:
    for p in MODSEC_MODULES:
        if os.path.exists(p):
            return p
    raise DependencyMissing("the nginx ModSecurity module is missing "
                            "(install libnginx-mod-http-modsecurity)")


def crs_paths() -> tuple[Path, Path]:
    if not CRS_SETUP.exists() or not CRS_RULES.is_dir():
        raise DependencyMissing("the OWASP CRS is missing (install modsecurity-crs)")
    return CRS_SETUP, CRS_RULES


def allow_map() -> str:
    """The lines of the ``map $request_uri $vvtv_allow`` block: each route's path (with or
    without a query) to its ``Allow``."""
    return "\n".join(f'    "~^{re.escape(r.path)}([?]|$)" "{allow_for(r.method)}";'
                     for r in ROUTES)


def _fill(text: str, values: dict[str, object]) -> str:
    for k, v in values.items():
        text = text.replace(f"@@{k}@@", str(v))
    return text


@dataclass(frozen=True)
class GatewayPlan:
    conf: Path
    prefix: Path
    worker_user: str


# nginx drops an idle connection to pool-api before pool-api does: a connection closed by
# the server just as nginx sends a request on it would be a 502 ("upstream prematurely
# closed") for a request pool-api never saw.
POOL_API_KEEPALIVE_S = 75
UPSTREAM_KEEPALIVE_S = 60


def render(layout: ApiLayout, config: ApiConfig, token: str) -> GatewayPlan:
    """Write ``nginx.conf``, ``proxy_params.conf`` (0600, holds the gateway token) and
    ``modsecurity.conf`` under ``api/gateway/``."""
    prefix = layout.run / "nginx"
    for sub in ("", "client_body", "proxy", "fastcgi", "uwsgi", "scgi", "modsec"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    user, worker = "", pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        if _traversable_by_nobody(prefix):
            nobody = pwd.getpwnam("nobody")
            for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "modsec"):
                os.chown(prefix / sub, nobody.pw_uid, nobody.pw_gid)
            user, worker = "user nobody nogroup;", "nobody"
        else:
            user, worker = "user root;", "root"
    setup, rules = crs_paths()
    s, g = config.server, config.gateway
    values: dict[str, object] = {
        "LOAD_MODULE": f"load_module {modsecurity_module()};", "USER_DIRECTIVE": user,
        "PREFIX": prefix, "LOGS": layout.logs, "TLS": layout.tls, "GATEWAY": layout.gateway,
        "API_PORT": s.port, "GATEWAY_PORT": s.gateway_port, "TLS_PORT": s.tls_port,
        "PER_IP_RPS": g.per_ip_rps, "PER_IP_BURST": g.per_ip_burst, "GATEWAY_TOKEN": token,
        "RUN": prefix / "modsec", "CRS_SETUP": setup, "CRS_RULES": rules,
        "UPSTREAM_KEEPALIVE_S": UPSTREAM_KEEPALIVE_S, "ALLOW_MAP": allow_map(),
        "HTTP_METHODS": "|".join(sorted(HTTP_METHODS)), "MSG_400": BAD_REQUEST_MESSAGE,
        "MSG_404": NOT_FOUND_MESSAGE, "MSG_405": METHOD_NOT_ALLOWED_MESSAGE}
    atomic_write(layout.gateway / "proxy_params.conf",
                 _fill((TEMPLATES / "proxy_params.conf.tmpl").read_text(), values), mode=0o600)
    atomic_write(layout.gateway / "modsecurity.conf",
                 _fill((TEMPLATES / "modsecurity.conf.tmpl").read_text(), values))
    atomic_write(layout.nginx_conf, _fill((TEMPLATES / "nginx.conf.tmpl").read_text(), values))
    return GatewayPlan(layout.nginx_conf, prefix, worker)


def command(plan: GatewayPlan) -> list[str]:
    return [nginx_exe(), "-p", str(plan.prefix), "-c", str(plan.conf)]


def test_config(plan: GatewayPlan) -> None:
    import subprocess

    out = subprocess.run([*command(plan), "-t"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise DependencyMissing(f"nginx rejected {plan.conf}: {out.stderr.strip()[-400:]}",
                                path=plan.conf)
