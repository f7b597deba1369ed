"""pool-api over real HTTP (uvicorn on 127.0.0.1, emulated models), clock injected:
check order, codes, error body, headers, nonces, limits, quotas, tenants, JWT, mTLS trust."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.plugins.rawhttp import raw_http
from vvtvlib.api import jwtauth
from vvtvlib.api.lab import ApiLab, Client, infer_body
from vvtvlib.core.clock import FakeClock
from vvtvlib.pool.emulator import EmulatorProcess

CODES = {"AUTH_FAILED", "NONCE_REPLAY", "BODY_TOO_LARGE", "SCHEMA_INVALID", "QUOTA_EXCEEDED",
         "RATE_LIMITED", "PROVIDER_FAILED", "NOT_READY", "DEADLINE_EXCEEDED"}


def error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message", "request_id"}
    assert body["error"] == code and code in CODES
    assert body["request_id"] == r.headers["x-request-id"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "Traceback" not in r.text and "/vvtvlib/" not in r.text
    return body


@pytest.fixture(scope="module")
def acme(lab: ApiLab) -> Client:
    return lab.tenant("Acme", scopes=["infer", "usage"])


def test_health_needs_no_auth(lab: ApiLab) -> None:
    r = lab.call(None, "GET", "/v1/health/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-request-id"]


def test_a_signed_infer_answers_with_the_seeds_fields(lab: ApiLab, acme: Client) -> None:
    r = lab.call(acme, "POST", "/v1/infer", infer_body("valid"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"request_id", "tenant_id", "winner_model", "strategy_used",
                         "duration_ms", "from_cache", "content"}
    assert body["tenant_id"] == acme.tenant_id and body["strategy_used"] == "FASTEST"
    assert body["request_id"] == r.headers["x-request-id"]
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("case", ["wrong_signature", "unknown_key", "skew_6_min",
                                  "future_6_min", "malformed_ts", "nonce_with_pipe",
                                  "nonce_not_uuid", "no_headers", "missing_signature"])
def test_authentication_failures_are_401(lab: ApiLab, acme: Client, case: str) -> None:
    body = json.dumps(infer_body("auth")).encode()
    now = lab.now_ms()
    if case == "no_headers":
        r = lab.call(None, "POST", "/v1/infer", body)
    else:
        h = lab.sign(acme, "POST", "/v1/infer", body)
        h.update({
            "wrong_signature": {"X-Signature": lab.sign(Client(acme.tenant_id, acme.key, "x"),
                                                        "POST", "/v1/infer", body)["X-Signature"]},
            "unknown_key": {"X-Api-Key": "vvtv-pub-0000000000000000"},
            "skew_6_min": lab.sign(acme, "POST", "/v1/infer", body, ts_ms=now - 360_000),
            "future_6_min": lab.sign(acme, "POST", "/v1/infer", body, ts_ms=now + 360_000),
            "malformed_ts": {"X-Timestamp": "17e11"},
            "nonce_with_pipe": {"X-Nonce": str(uuid.uuid4())[:-1] + "|"},
            "nonce_not_uuid": {"X-Nonce": "abc"},
            "missing_signature": {"X-Signature": ""},
        }[case])
        r = lab.call(None, "POST", "/v1/infer", body, headers=h)
    error(r, 401, "AUTH_FAILED")


def test_skew_of_four_minutes_is_accepted(lab: ApiLab, acme: Client) -> None:
    r = lab.call(acme, "POST", "/v1/infer", infer_body("skew"), ts_ms=lab.now_ms() - 240_000)
    assert r.status_code == 200


def test_replay_is_409_and_the_nonce_is_case_insensitive(lab: ApiLab, acme: Client) -> None:
    nonce = str(uuid.uuid4())
    assert lab.call(acme, "POST", "/v1/infer", infer_body("replay"), nonce=nonce
                    ).status_code == 200
    error(lab.call(acme, "POST", "/v1/infer", infer_body("replay"), nonce=nonce), 409,
          "NONCE_REPLAY")
    error(lab.call(acme, "POST", "/v1/infer", infer_body("replay"), nonce=nonce.upper()), 409,
          "NONCE_REPLAY")
    lab.gateway.usage.flush()
    rows = lab.tenants.usage(acme.tenant_id, 0, 2**62)
    assert [r.status for r in rows].count(409) >= 2  # a replay is attributed to its tenant


def test_a_nonce_is_recorded_only_after_the_signature_holds(lab: ApiLab, acme: Client) -> None:
    nonce = str(uuid.uuid4())
    body = json.dumps(infer_body("order")).encode()
    h = lab.sign(acme, "POST", "/v1/infer", body, nonce=nonce)
    bad = {**h, "X-Signature": "AAAA" + h["X-Signature"][4:]}
    error(lab.call(None, "POST", "/v1/infer", body, headers=bad), 401, "AUTH_FAILED")
    assert lab.call(None, "POST", "/v1/infer", body, headers=h).status_code == 200


def test_fifty_concurrent_requests_with_one_nonce(lab: ApiLab, acme: Client) -> None:
    # the task's longest deadline: 50 connections at once on two cores can hold the one
    # request that passes the nonce past the 1.2 s default
    body = json.dumps({**infer_body("fifty"), "hints": {"deadline_ms": 5000}}).encode()
    h = {"Content-Type": "application/json",
         **lab.sign(acme, "POST", "/v1/infer", body, nonce=str(uuid.uuid4()))}

    def one(_: int) -> int:
        with httpx.Client(timeout=30) as c:
            return c.post(lab.base_url + "/v1/infer", content=body, headers=h).status_code
    with ThreadPoolExecutor(50) as ex:
        codes = list(ex.map(one, range(50)))
    assert codes.count(200) == 1 and codes.count(409) == 49


def test_body_limit_is_checked_first(lab: ApiLab, acme: Client) -> None:
    big = b'{"x":"' + b"a" * (1024 * 1024 - 8) + b'"}'
    assert len(big) == 1024 * 1024
    r = lab.call(acme, "POST", "/v1/infer", big + b" ")
    error(r, 413, "BODY_TOO_LARGE")
    # 413 comes before the key is even looked up
    error(lab.call(None, "POST", "/v1/infer", big + b" ",
                   headers={"X-Api-Key": "unknown"}), 413, "BODY_TOO_LARGE")
    r = lab.call(acme, "POST", "/v1/infer", big)  # exactly 1 MiB passes the limit
    error(r, 422, "SCHEMA_INVALID")


@pytest.mark.parametrize("body", [
    {"task": "write_poem", "payload": {}},
    {"task": "expand_queries", "strategy": "FASTEST", "payload": {"seed": 7}},
    {"task": "expand_queries", "payload": {"seed": "a"}, "extra": 1},
    {"task": "expand_queries", "strategy": "LOUDEST", "payload": {"seed": "a"}},
    {"task": "expand_queries", "payload": {"seed": "a"}, "hints": {"deadline_ms": -1}},
    b"not json", b"[1,2]",
])
def test_invalid_requests_are_422(lab: ApiLab, acme: Client, body: Any) -> None:
    error(lab.call(acme, "POST", "/v1/infer", body), 422, "SCHEMA_INVALID")


def test_a_signed_query_string_cannot_be_altered(lab: ApiLab, acme: Client) -> None:
    h = lab.sign(acme, "GET", "/v1/usage?from=2020-01-01")
    r = lab.call(None, "GET", "/v1/usage?from=2019-01-01", headers=h)
    error(r, 401, "AUTH_FAILED")
    h = lab.sign(acme, "GET", "/v1/usage?from=2020-01-01")
    assert lab.call(None, "GET", "/v1/usage?from=2020-01-01", headers=h).status_code == 200


def test_a_tenant_reads_only_its_own_usage(lab: ApiLab, acme: Client) -> None:
    beta = lab.tenant("Beta", scopes=["infer", "usage"])
    before = lab.call(acme, "GET", "/v1/usage?from=2020-01-01").json()
    for i in range(3):
        assert lab.call(beta, "POST", "/v1/infer", infer_body(f"beta {i}")).status_code == 200
    a = lab.call(acme, "GET", "/v1/usage?from=2020-01-01").json()
    b = lab.call(beta, "GET", "/v1/usage?from=2020-01-01").json()
    assert a["tenant_id"] == acme.tenant_id and b["tenant_id"] == beta.tenant_id
    assert b["by_route"]["/v1/infer"]["requests"] == 3
    # beta's three requests are not in acme's usage (at most acme's own first usage call is)
    assert a["requests"] - before["requests"] <= 1
    error(lab.call(acme, "GET", f"/v1/usage?from=2020-01-01&tenant_id={beta.tenant_id}"),
          403, "AUTH_FAILED")
    error(lab.call(acme, "GET", "/v1/usage?from=yesterday"), 422, "SCHEMA_INVALID")
    rows = lab.tenants.usage(beta.tenant_id, 0, 2**62)
    assert len(rows) >= 3 and {r.route for r in rows} >= {"/v1/infer"}


def test_suspension_takes_effect_within_a_second(lab: ApiLab, clock: FakeClock) -> None:
    t = lab.tenant("Gamma")
    assert lab.call(t, "POST", "/v1/infer", infer_body("gamma")).status_code == 200
    lab.tenants.set_status(t.tenant_id, "suspended")  # as `vvtvctl tenants suspend` does
    clock.advance(1.0)
    error(lab.call(t, "POST", "/v1/infer", infer_body("gamma")), 403, "AUTH_FAILED")
    lab.tenants.set_status(t.tenant_id, "active")
    clock.advance(1.0)
    assert lab.call(t, "POST", "/v1/infer", infer_body("gamma")).status_code == 200


def test_scope_not_allowed_is_403(lab: ApiLab) -> None:
    t = lab.tenant("InferOnly", scopes=["infer"])
    error(lab.call(t, "GET", "/v1/usage"), 403, "AUTH_FAILED")
    error(lab.call(t, "POST", "/v1/keys/rotate"), 403, "AUTH_FAILED")


def test_rate_limit_429_with_retry_after_and_route_weights(lab: ApiLab, clock: FakeClock
                                                           ) -> None:
    t = lab.tenant("Limited", rpm=60, burst=3)
    got = [lab.call(t, "POST", "/v1/infer", infer_body(f"rl {i}")).status_code
           for i in range(5)]
    assert got == [200, 200, 200, 429, 429]
    r = lab.call(t, "POST", "/v1/infer", infer_body("rl"))
    error(r, 429, "RATE_LIMITED")
    assert r.headers["retry-after"] == "1"
    clock.advance(1.0)  # rpm 60 refills one token per second
    assert lab.call(t, "POST", "/v1/infer", infer_body("rl again")).status_code == 200
    assert lab.call(t, "POST", "/v1/infer", infer_body("rl again")).status_code == 429
    clock.advance(1.0)  # one token: five usage reads at weight 0.2
    got = [lab.call(t, "GET", "/v1/usage").status_code for _ in range(6)]
    assert got == [200] * 5 + [429]


def test_tokens_per_minute(lab: ApiLab, clock: FakeClock) -> None:
    t = lab.tenant("Tokens", rpm=6000, burst=100)
    lab.tenants.set_limits(t.tenant_id, tpm=600)  # 600 tokens: two reservations of 256
    clock.advance(1.0)
    got = [lab.call(t, "POST", "/v1/infer", infer_body(f"tpm {i}")) for i in range(4)]
    codes = [r.status_code for r in got]
    assert codes[0] == 200 and 429 in codes
    refused = got[codes.index(429)]
    assert refused.json()["error"] == "RATE_LIMITED" and "tokens" in refused.json()["message"]
    clock.advance(60.0)  # a minute refills the bucket
    assert lab.call(t, "POST", "/v1/infer", infer_body("tpm later")).status_code == 200


def test_limits_change_without_restart(lab: ApiLab, clock: FakeClock) -> None:
    t = lab.tenant("Raised", rpm=60, burst=1)
    assert lab.call(t, "POST", "/v1/infer", infer_body("raise")).status_code == 200
    assert lab.call(t, "POST", "/v1/infer", infer_body("raise")).status_code == 429
    lab.tenants.set_limits(t.tenant_id, rpm=6000, burst=50)
    clock.advance(1.0)
    assert all(lab.call(t, "POST", "/v1/infer", infer_body(f"raised {i}")).status_code == 200
               for i in range(5))


def test_bearer_token(lab: ApiLab, acme: Client, clock: FakeClock) -> None:
    lay, a = lab.gateway.layout, lab.gateway.config.auth
    tok = jwtauth.issue(lay.keys, lay.jwks, tenant_id=acme.tenant_id, scopes=["infer"],
                        ttl_s=600, issuer=a.jwt_issuer, audience=a.jwt_audience, clock=clock)
    r = lab.call(None, "POST", "/v1/infer", infer_body("jwt"),
                 headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200 and r.json()["tenant_id"] == acme.tenant_id
    # the token's scopes narrow the tenant's
    error(lab.call(None, "GET", "/v1/usage", headers={"Authorization": f"Bearer {tok}"}),
          403, "AUTH_FAILED")
    error(lab.call(None, "POST", "/v1/infer", infer_body("jwt"),
                   headers={"Authorization": "Bearer not.a.jwt"}), 401, "AUTH_FAILED")
    clock.advance(600 + jwtauth.LEEWAY_S + 1)
    error(lab.call(None, "POST", "/v1/infer", infer_body("jwt"),
                   headers={"Authorization": f"Bearer {tok}"}), 401, "AUTH_FAILED")


def test_forged_client_certificate_headers_are_ignored(lab: ApiLab, acme: Client) -> None:
    lab.tenants.map_cert(acme.tenant_id, "acme-partner")
    forged = {"X-Client-Verify": "SUCCESS", "X-Client-S-DN": "CN=acme-partner,O=VVTV Lab"}
    error(lab.call(None, "POST", "/v1/infer", infer_body("mtls"), headers=forged), 401,
          "AUTH_FAILED")
    error(lab.call(None, "POST", "/v1/infer", infer_body("mtls"),
                   headers={**forged, "X-Gateway-Token": "0" * 64}), 401, "AUTH_FAILED")
    token = lab.gateway.gateway_token.decode()
    r = lab.call(None, "POST", "/v1/infer", infer_body("mtls"),
                 headers={**forged, "X-Gateway-Token": token})
    assert r.status_code == 200 and r.json()["tenant_id"] == acme.tenant_id


def test_an_unexpected_error_is_a_500_with_the_error_body(lab: ApiLab, acme: Client,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    async def boom(_: object) -> None:
        raise RuntimeError("/srv/secret/path/models.py exploded")
    assert lab.gateway.pool is not None
    monkeypatch.setattr(lab.gateway.pool, "infer", boom)
    r = lab.call(acme, "POST", "/v1/infer", infer_body("boom"))
    body = r.json()
    assert r.status_code == 500 and body["error"] == "INTERNAL_ERROR"
    assert "secret" not in r.text and "Traceback" not in r.text
    log = lab.gateway.layout.error_log.read_text()
    assert body["request_id"] in log and "RuntimeError" in log


def test_unknown_routes_keep_the_error_body(lab: ApiLab) -> None:
    r = lab.call(None, "GET", "/v1/nothing")
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND"
    assert r.headers["x-content-type-options"] == "nosniff"
    r = lab.call(None, "GET", "/v1/infer")
    assert r.status_code == 405 and r.json()["error"] == "METHOD_NOT_ALLOWED"


def test_an_error_outside_the_pipeline_keeps_the_error_body(lab: ApiLab, acme: Client,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    async def broken(*_: object) -> None:
        raise KeyError("/etc/vvtv/internal")
    monkeypatch.setattr(lab.gateway, "handle", broken)
    r = lab.call(acme, "POST", "/v1/infer", infer_body("outside"))
    assert r.status_code == 500 and r.json()["error"] == "INTERNAL_ERROR"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "/etc/vvtv" not in r.text and "Traceback" not in r.text


def test_a_request_the_parser_cannot_read_gets_the_error_body(lab: ApiLab) -> None:
    """uvicorn's own 400 replaced by pool-api's HTTP protocol: the error body, the headers,
    the connection closed, the request in the access log."""
    r = raw_http(lab.base_url, b"GET /v1/usage HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    body = json.loads(r.body)
    assert (r.status, body["error"]) == (400, "SCHEMA_INVALID")
    assert r.headers["x-request-id"] == body["request_id"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"] == "application/json" and r.closed
    assert body["request_id"] in lab.gateway.layout.access_log.read_text()
    # the gateway's id when its token came before the fault, never a client's
    token = lab.gateway.gateway_token.decode()
    for hdrs, kept in ((f"X-Gateway-Token: {token}\r\nX-Request-Id: gw-1234567890\r\n", True),
                       ("X-Gateway-Token: forged\r\nX-Request-Id: gw-1234567890\r\n", False)):
        r = raw_http(lab.base_url, f"GET /v1/usage HTTP/1.1\r\nHost: x\r\n{hdrs}".encode()
                     + b"X-A: a\x01b\r\n\r\n")
        assert r.status == 400
        assert (json.loads(r.body)["request_id"] == "gw-1234567890") is kept
        assert r.headers["x-request-id"] == json.loads(r.body)["request_id"]


@pytest.mark.parametrize(("method", "target", "status", "allow"), [
    ("PROPFIND", "/v1/usage", 400, None), ("TRACE", "/nothing", 405, None),
    ("TRACE", "/v1/usage", 405, "GET, HEAD"), ("DELETE", "/nothing", 404, None),
    ("DELETE", "/v1/infer", 405, "POST")])
def test_methods_off_the_routes_answer_as_the_gateway_does(lab: ApiLab, method: str,
                                                          target: str, status: int,
                                                          allow: str | None) -> None:
    r = lab.call(None, method, target)
    code = {400: "SCHEMA_INVALID", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}[status]
    assert (r.status_code, r.json()["error"]) == (status, code), r.text
    assert r.headers.get("allow") == allow
    assert r.headers["x-request-id"] == r.json()["request_id"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_every_schema_is_compiled_before_readiness_answers(
        tmp_path_factory: pytest.TempPathFactory, duo: list[EmulatorProcess]) -> None:
    """A fresh pool-api compiles the task schemas at start-up, so the first request of each
    task, or the first refused provider answer, does no such work on the event loop."""
    from vvtvlib.pool import tasks

    tasks.fast_check.cache_clear()  # as in a process just started
    with ApiLab(tmp_path_factory.mktemp("fresh"), emulators=duo) as fresh:
        assert fresh.call(None, "GET", "/v1/health/ready").status_code == 200
        assert tasks.fast_check.cache_info().currsize == 2 * len(tasks.TASKS)
        assert fresh.gateway.schemas_compiled == 2 * len(tasks.TASKS)
