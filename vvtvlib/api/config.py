"""``api/configs/api.toml``: ports, plans, route weights, auth windows, limits, SLOs.

    [server]
    host = "127.0.0.1"
    port = 7070                  # pool-api (the embedded profile's public port)
    gateway_port = 7071          # nginx profile: plain HTTP listener
    tls_port = 7443              # nginx profile: TLS listener (optional client certificates)
    body_limit = 1048576         # bytes (413 above)
    [auth]
    skew_s = 300                 # |now - X-Timestamp| allowed
    nonce_ttl_s = 600            # a nonce is refused again for this long
    jwt_max_ttl_s = 900          # exp - iat
    jwt_issuer = "vvtv-lab"      # "" turns the check off
    jwt_audience = "vvtv-api"
    key_grace_s = 604800         # a rotated key keeps working for 7 days
    rotate_every_s = 86400       # POST /v1/keys/rotate at most once per tenant per window
    [limits]
    backend = "memory://"        # or "redis://127.0.0.1:6390/0"
    [weights]
    infer = 1.0
    usage = 0.2
    keys_rotate = 1.0
    [plans.free] ...             # rpm, burst, requests_month, tokens_month
    [gateway]
    per_ip_rps = 200             # nginx limit_req per IP
    per_ip_burst = 400
    [slo]
    infer_p95_ms = 1200
    [billing]
    url = ""                     # POST <url>/billing/usage: tenant-days, quota warnings
    tolerance_s = 300            # the receiver refuses signatures older than this
    max_attempts = 8             # per tenant-day, exponential backoff with full jitter
    backoff_base_s = 0.5
    backoff_cap_s = 30.0
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vvtvlib.core.config import Section, read_toml, validate
from vvtvlib.core.layout import resolve_root


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=7070, ge=1, le=65535)
    gateway_port: int = Field(default=7071, ge=1, le=65535)
    tls_port: int = Field(default=7443, ge=1, le=65535)
    body_limit: int = Field(default=1_048_576, ge=1024)


class AuthSettings(Section):
    skew_s: int = Field(default=300, ge=1)
    nonce_ttl_s: int = Field(default=600, ge=1)
    jwt_max_ttl_s: int = Field(default=900, ge=1)
    jwt_issuer: str = "vvtv-lab"
    jwt_audience: str = "vvtv-api"
    key_grace_s: int = Field(default=7 * 86400, ge=0)
    rotate_every_s: int = Field(default=86400, ge=0)


class LimitsSettings(Section):
    backend: str = "memory://"


class Weights(Section):
    infer: float = Field(default=1.0, ge=0)
    usage: float = Field(default=0.2, ge=0)
    keys_rotate: float = Field(default=1.0, ge=0)


class Plan(Section):
    rpm: int = Field(ge=1)
    burst: int = Field(ge=1)
    requests_month: int = Field(ge=1)
    tokens_month: int = Field(ge=1)


def _plans() -> dict[str, Plan]:
    return {"free": Plan(rpm=30, burst=5, requests_month=10_000, tokens_month=2_000_000),
            "pro": Plan(rpm=120, burst=30, requests_month=500_000, tokens_month=100_000_000),
            "enterprise": Plan(rpm=1200, burst=200, requests_month=10_000_000,
                               tokens_month=2_000_000_000)}


class GatewaySettings(Section):
    per_ip_rps: int = Field(default=200, ge=1)
    per_ip_burst: int = Field(default=400, ge=0)


class SloSettings(Section):
    infer_p95_ms: int = 1200
    error_rate_5xx: float = 0.005
    availability: float = 0.995


class BillingSettings(Section):
    url: str = ""                 # the billing endpoint's base (POST <url>/billing/usage)
    tolerance_s: int = Field(default=300, ge=1)  # the receiver refuses older signatures
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_cap_s: float = Field(default=30.0, gt=0)


class ApiConfig(Section):
    server: ServerSettings = ServerSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitsSettings = LimitsSettings()
    weights: Weights = Weights()
    plans: dict[str, Plan] = Field(default_factory=_plans)
    gateway: GatewaySettings = GatewaySettings()
    slo: SloSettings = SloSettings()
    billing: BillingSettings = BillingSettings()

    def plan(self, name: str) -> Plan:
        return self.plans.get(name) or self.plans["free"]


class ApiLayout:
    """The seed's tree on a station root: ``api/``, ``pool/``, ``logs/``, ``dashboards/``."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = resolve_root(root)

    api = property(lambda self: self.root / "api")
    configs = property(lambda self: self.api / "configs")
    api_toml = property(lambda self: self.configs / "api.toml")
    jwks = property(lambda self: self.configs / "jwks.json")
    gateway = property(lambda self: self.api / "gateway")
    nginx_conf = property(lambda self: self.gateway / "nginx.conf")
    tls = property(lambda self: self.gateway / "tls")
    gateway_token = property(lambda self: self.gateway / "gateway.token")
    schemas = property(lambda self: self.api / "schemas")
    openapi = property(lambda self: self.api / "openapi.json")
    bin = property(lambda self: self.api / "bin")
    run = property(lambda self: self.api / "run")
    state_json = property(lambda self: self.run / "state.json")
    tenants_db = property(lambda self: self.root / "data" / "tenants.sqlite")
    logs = property(lambda self: self.root / "logs")
    access_log = property(lambda self: self.logs / "api_access.log")
    error_log = property(lambda self: self.logs / "api_error.log")
    audit_log = property(lambda self: self.logs / "audit" / "api_requests.jsonl")
    dashboards = property(lambda self: self.root / "dashboards")
    keys = property(lambda self: self.root / "vault" / "keys")
    master_key = property(lambda self: self.keys / "api_master.key")
    ca_key = property(lambda self: self.keys / "api_ca.key")
    billing_key = property(lambda self: self.keys / "billing_webhook.key")
    usage_dir = property(lambda self: self.root / "data" / "usage")
    receiver_db = property(lambda self: self.root / "data" / "usage" / "billing_received.sqlite")

    def rollup_dir(self, day: str) -> Path:
        return self.usage_dir / "rollups" / day


def load_api_config(root: str | Path | None) -> ApiConfig:
    path = ApiLayout(root).api_toml
    if not path.exists():
        return ApiConfig()
    return validate(ApiConfig, read_toml(path), source=path)
