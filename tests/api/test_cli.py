"""`vvtvctl api` and `vvtvctl tenants`: one sentence and the documented exit code on bad
input, secrets printed once and stored encrypted, the seed's tree laid out by `api init`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.plugins.system import need
from vvtvlib.api.jwtauth import Jwks, verify
from vvtvlib.cli.vvtvctl import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def root(tmp_path: Path) -> Path:
    code, _, err = run("api", "init", "--root", str(tmp_path), "--port", "17900",
                       "--json")
    assert code == 0, err
    return tmp_path


def test_init_lays_out_the_seeds_tree(root: Path) -> None:
    for rel in ("api/configs/api.toml", "api/configs/jwks.json", "api/gateway/tls/ca.pem",
                "api/gateway/tls/server.pem", "api/schemas/judge.payload.schema.json",
                "api/bin/start_gateway.sh", "api/bin/stop_gateway.sh",
                "api/bin/rotate_keys.sh", "api/bin/smoke.sh", "pool/providers.toml",
                "data/tenants.sqlite", "logs/api_access.log", "logs/api_error.log",
                "logs/audit/api_requests.jsonl", "dashboards/api_health.json",
                "dashboards/tenant_usage.json"):
        assert (root / rel).exists(), rel
    need(Path("/usr/share/modsecurity-crs/rules").is_dir(), "modsecurity-crs")
    conf = (root / "api/gateway/nginx.conf").read_text()
    assert "listen 127.0.0.1:17901;" in conf and "modsecurity on;" in conf
    assert "proxy_params.conf" in conf and "X-Gateway-Token" not in conf  # the token: 0600 file
    for secret in ("vault/keys/api_master.key", "api/gateway/gateway.token",
                   "api/gateway/proxy_params.conf",
                   "vault/keys/api_ca.key", "api/gateway/tls/server.key"):
        assert stat.S_IMODE((root / secret).stat().st_mode) == 0o600, secret
    toml = (root / "api/configs/api.toml").read_text()
    assert "port = 17900" in toml and "gateway_port = 17901" in toml
    assert "[plans.free]" in toml and "[plans.enterprise]" in toml and "usage = 0.2" in toml
    jwks = json.loads((root / "api/configs/jwks.json").read_text())
    assert jwks["keys"][0]["kty"] == "OKP" and jwks["keys"][0]["kid"]
    code, _, err = run("api", "init", "--root", str(root))
    assert code == 2 and "--force" in err
    assert run("api", "init", "--root", str(root), "--force")[0] == 0


def test_tenants_lifecycle(root: Path) -> None:
    code, out, err = run("tenants", "create", "--root", str(root), "--name", "Acme", "--plan",
                         "pro", "--rpm", "120", "--burst", "30", "--scopes", '["infer"]',
                         "--json")
    assert code == 0, err
    creds = json.loads(out)
    assert set(creds) >= {"tenant_id", "api_public_key", "api_secret"}
    tid = creds["tenant_id"]
    db = (root / "data/tenants.sqlite").read_bytes()
    assert creds["api_secret"].encode() not in db  # encrypted at rest
    code, out, _ = run("tenants", "list", "--root", str(root), "--json")
    assert [t["id"] for t in json.loads(out)] == [tid]
    assert creds["api_secret"] not in out
    code, out, _ = run("tenants", "show", "Acme", "--root", str(root), "--json")
    assert json.loads(out)["keys"][0]["fingerprint"].startswith("sha256:")
    assert json.loads(run("tenants", "suspend", tid, "--root", str(root), "--json")[1]
                      )["status"] == "suspended"
    assert json.loads(run("tenants", "resume", tid, "--root", str(root), "--json")[1]
                      )["status"] == "active"
    out = run("tenants", "set-limits", tid, "--rpm", "600", "--burst", "5", "--scopes",
              '["infer","usage"]', "--root", str(root), "--json")[1]
    assert json.loads(out)["rpm_limit"] == 600 and json.loads(out)["scopes"] == ["infer",
                                                                                 "usage"]
    assert run("tenants", "map-cert", tid, "--cn", "acme-gw", "--root", str(root))[0] == 0
    code, out, _ = run("tenants", "rotate", tid, "--root", str(root), "--json")
    rot = json.loads(out)
    assert code == 0 and rot["api_public_key"] != creds["api_public_key"]
    assert rot["old_key_expires_at"] is not None
    code, out, _ = run("tenants", "rotate", tid, "--revoke-now", "--root", str(root), "--json")
    assert code == 0
    code, out, err = run("api", "jwt", "issue", "--tenant", tid, "--scopes", '["infer"]',
                         "--ttl", "600", "--root", str(root), "--json")
    assert code == 0, err
    claims = verify(json.loads(out)["token"], Jwks.load(root / "api/configs/jwks.json"),
                    now_s=__import__("time").time(), issuer="vvtv-lab", audience="vvtv-api")
    assert claims.tenant_id == tid
    code, out, _ = run("api", "jwks", "rotate", "--root", str(root), "--json")
    assert code == 0 and len(json.loads(out)["valid"]) == 2
    kid = json.loads(out)["kid"]
    audit = [json.loads(x) for x in (root / "logs/audit/api_requests.jsonl").read_text()
             .splitlines()]
    assert any(x.get("event") == "jwks_rotate" and x["kid"] == kid for x in audit)
    assert run("api", "jwt", "rotate", "--root", str(root))[0] == 2  # one name: jwks rotate


@pytest.mark.parametrize("args,needle", [
    (["tenants", "create", "--name", "X", "--rpm", "1", "--burst", "1", "--scopes", "infer"],
     "JSON array"),
    (["tenants", "create", "--name", "X", "--rpm", "1", "--burst", "1", "--scopes",
      '["admin"]'], "unknown scopes"),
    (["tenants", "create", "--name", "X", "--plan", "gold", "--rpm", "1", "--burst", "1"],
     "unknown plan"),
    (["tenants", "create", "--name", "X", "--rpm", "0", "--burst", "1"], "at least 1"),
    (["tenants", "show", "nobody"], "no tenant"),
    (["api", "up", "--workers", "2", "--limits", "memory"], "--limits redis"),
    (["api", "up", "--profile", "envoy"], "--profile"),
    (["api", "jwt", "issue", "--tenant", "x", "--ttl", "3600"], "at most 900"),
])
def test_bad_input_is_one_sentence_and_exit_2(root: Path, args: list[str], needle: str
                                              ) -> None:
    code, _, err = run(*args, "--root", str(root))
    assert code == 2 and needle in err and "Traceback" not in err


def test_commands_on_a_root_without_api(tmp_path: Path) -> None:
    code, _, err = run("tenants", "list", "--root", str(tmp_path))
    assert code == 3 and "api init" in err
    code, _, err = run("api", "up", "--root", str(tmp_path))
    assert code == 3 and "api init" in err
    code, out, _ = run("api", "status", "--root", str(tmp_path), "--json")
    assert code == 1 and json.loads(out)["up"] is False
    assert run("api", "down", "--root", str(tmp_path))[0] == 0
