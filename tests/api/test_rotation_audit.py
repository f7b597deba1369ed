"""Key rotation through `vvtvctl tenants rotate` and `POST /v1/keys/rotate` on the injected
clock (T0, T0+7d, once per 24 h, --revoke-now), JWKS rotation (`vvtvctl api jwks rotate`:
a new kid, the old one for 7 days), each in the audit chain."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from typer.testing import CliRunner

from vvtvlib.api import jwtauth
from vvtvlib.api.lab import ApiLab, Client, infer_body
from vvtvlib.cli.vvtvctl import app as vvtvctl
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.evidence import verify_chain


def cli(*args: str) -> Any:
    return CliRunner().invoke(vvtvctl, list(args))


def events_for(lab: ApiLab, tid: str | None) -> list[dict[str, Any]]:
    lab.gateway.audit.flush()
    lines = [json.loads(x) for x in lab.gateway.layout.audit_log.read_text().splitlines()]
    return [x for x in lines if x.get("kind") == "tenant_event" and x["tenant_id"] == tid]


def catch_up(clock: FakeClock) -> None:
    """The CLI rotates on the real clock: bring the lab's clock 1 s past it, however long
    the earlier tests of this module took on a slow machine."""
    clock.advance(max(0.0, time.time() - clock.now().timestamp()) + 1)


def test_cli_rotation_t0_then_t0_plus_7d_and_once_per_24h(lab: ApiLab,
                                                           clock: FakeClock) -> None:
    t = lab.tenant("RotCli", plan="enterprise", scopes=["infer", "keys:rotate"])
    root = str(lab.root)
    res = cli("tenants", "rotate", t.tenant_id, "--root", root, "--json")
    assert res.exit_code == 0, res.output
    new = Client(t.tenant_id, json.loads(res.stdout)["api_public_key"],
                 json.loads(res.stdout)["api_secret"])
    catch_up(clock)
    assert lab.call(new, "POST", "/v1/infer", infer_body("T0 new")).status_code == 200
    assert lab.call(t, "POST", "/v1/infer", infer_body("T0 old")).status_code == 200
    again = cli("tenants", "rotate", t.tenant_id, "--root", root)
    assert again.exit_code == 1 and "rotated less than" in again.output
    r = lab.call(new, "POST", "/v1/keys/rotate")  # the API says the same: 429
    assert r.status_code == 429 and r.json()["error"] == "RATE_LIMITED"
    clock.advance(7 * 86400)
    assert lab.call(t, "POST", "/v1/infer", infer_body("T0+7d old")).status_code == 401
    assert lab.call(new, "POST", "/v1/infer", infer_body("T0+7d new")).status_code == 200
    ev = events_for(lab, t.tenant_id)
    assert [e["event"] for e in ev].count("rotate") == 1
    rot = next(e for e in ev if e["event"] == "rotate")
    assert rot["new_key"].endswith(new.key[-4:]) and new.key not in json.dumps(ev)


def test_revoke_now_is_never_refused_and_is_audited(lab: ApiLab, clock: FakeClock) -> None:
    t = lab.tenant("RotLeak", plan="enterprise")
    root = str(lab.root)
    assert cli("tenants", "rotate", t.tenant_id, "--root", root).exit_code == 0
    res = cli("tenants", "rotate", t.tenant_id, "--revoke-now", "--root", root, "--json")
    assert res.exit_code == 0, res.output
    newest = Client(t.tenant_id, json.loads(res.stdout)["api_public_key"],
                    json.loads(res.stdout)["api_secret"])
    catch_up(clock)
    assert lab.call(t, "POST", "/v1/infer", infer_body("leaked")).status_code == 401
    assert lab.call(newest, "POST", "/v1/infer", infer_body("fresh")).status_code == 200
    assert [e["event"] for e in events_for(lab, t.tenant_id)][-2:] == ["rotate", "revoke"]


def test_api_rotation_is_audited_with_the_request(lab: ApiLab, clock: FakeClock) -> None:
    t = lab.tenant("RotApi", plan="enterprise", scopes=["infer", "keys:rotate"])
    clock.advance(2 * 86400)  # clear of any earlier rotation window in this module
    r = lab.call(t, "POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    rot = [e for e in events_for(lab, t.tenant_id) if e["event"] == "rotate"]
    assert len(rot) == 1 and rot[0]["actor"] == "pool-api"
    assert rot[0]["request_id"] == r.headers["x-request-id"]
    assert r.json()["api_secret"] not in lab.gateway.layout.audit_log.read_text()
    assert verify_chain(lab.gateway.layout.audit_log).ok


def test_jwks_rotation_keeps_the_old_kid_for_seven_days(lab: ApiLab, clock: FakeClock) -> None:
    lay = lab.gateway.layout
    old_kid = json.loads(lay.jwks.read_text())["keys"][-1]["kid"]
    res = cli("api", "jwks", "rotate", "--root", str(lab.root), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["kid"] != old_kid and old_kid in out["valid"] and out["kid"] in out["valid"]
    token = jwtauth.issue(lay.keys, lay.jwks, tenant_id="t_x", scopes=["infer"], ttl_s=600,
                          kid=old_kid)
    real = FakeClock(start=datetime.now(UTC))  # `jwks rotate` ran on the system clock
    jw = jwtauth.Jwks.load(lay.jwks, real)
    claims = jwtauth.verify(token, jw, now_s=real.now().timestamp())
    assert claims.kid == old_kid
    real.advance(timedelta(days=7, seconds=60).total_seconds())
    assert old_kid not in jwtauth.Jwks.load(lay.jwks, real).keys
    assert out["kid"] in jwtauth.Jwks.load(lay.jwks, real).keys
    assert any(e["event"] == "jwks_rotate" and e["kid"] == out["kid"]
               for e in events_for(lab, None))
