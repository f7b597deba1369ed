"""Step bindings for ``n_gateway_auth.feature`` and ``n_tenants_limits.feature``: a real
pool-api (uvicorn on 127.0.0.1) over emulator processes, the clock injected."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from pytest_bdd import given, parsers, scenarios, then, when

from tests.plugins.rawhttp import raw_http
from vvtvlib.api import jwtauth
from vvtvlib.api.config import ApiConfig
from vvtvlib.api.lab import ACCEPTANCE_PLANS, ApiLab, Client, infer_body
from vvtvlib.core.clock import FakeClock
from vvtvlib.pool.emulator import EmulatorProcess, start_emulators, stop_all
from vvtvlib.pool.tasks import check_content

pytestmark = [pytest.mark.timeout(120)]
scenarios("n_gateway_auth.feature", "n_tenants_limits.feature")

PLANS = ACCEPTANCE_PLANS


@pytest.fixture(scope="module")
def duo_api() -> Iterator[list[EmulatorProcess]]:
    ems = start_emulators([("m1", "0"), ("m2", "0")])
    yield ems
    stop_all(ems)


@pytest.fixture
def world() -> dict[str, Any]:
    return {"tenants": {}, "answers": [], "labs": []}


@pytest.fixture(autouse=True)
def _close(world: dict[str, Any]) -> Iterator[None]:
    yield
    for lab in world["labs"]:
        lab.close()


def _lab(world: dict[str, Any], tmp_path: Path, **kw: Any) -> ApiLab:
    for old in world["labs"]:
        old.close()
    clock = FakeClock(start=datetime.now(UTC).replace(microsecond=0))
    lab = ApiLab(tmp_path / uuid.uuid4().hex[:6], clock=clock, config=ApiConfig(plans=PLANS),
                 **kw).start()
    world.update(lab=lab, clock=clock, tenants={}, labs=[lab])
    return lab


@given("a running pool-api over emulated models")
def running(world: dict[str, Any], tmp_path: Path, duo_api: list[EmulatorProcess]) -> None:
    _lab(world, tmp_path, emulators=duo_api)


@given("a running pool-api over a model whose every answer is messy")
def running_messy(world: dict[str, Any], tmp_path: Path) -> None:
    _lab(world, tmp_path, models="messy@1:2", messy_rate=1.0)


@given(parsers.parse('a tenant "{name}" with scopes infer and usage'))
def tenant(world: dict[str, Any], name: str) -> None:
    world["tenants"][name] = world["lab"].tenant(name)


@given(parsers.parse('a tenant "{name}" with a burst of {burst:d} and {rpm:d} requests per '
                     'minute'))
def limited(world: dict[str, Any], name: str, burst: int, rpm: int) -> None:
    world["tenants"][name] = world["lab"].tenant(name, rpm=rpm, burst=burst)


@given(parsers.parse('a tenant "{name}" on a plan of {n:d} requests a month'))
def small(world: dict[str, Any], name: str, n: int) -> None:
    assert PLANS["free"].requests_month == n
    world["tenants"][name] = world["lab"].tenant(name, plan="free")


def _send(world: dict[str, Any], name: str, body: Any = None, **kw: Any) -> httpx.Response:
    lab: ApiLab = world["lab"]
    i = len(world["answers"])
    r = lab.call(world["tenants"][name], "POST", "/v1/infer",
                 body if body is not None else infer_body(f"{name} {i}"), **kw)
    world["answers"].append(r)
    world["last"] = r
    return r


@when(parsers.parse('"{name}" sends a signed inference'))
def send_one(world: dict[str, Any], name: str) -> None:
    body = json.dumps(infer_body(f"{name} one")).encode()
    nonce = str(uuid.uuid4())
    world["replay"] = (name, body, nonce)
    _send(world, name, body, nonce=nonce)


@when(parsers.parse('"{name}" sends the same request again'))
def send_again(world: dict[str, Any], name: str) -> None:
    _, body, nonce = world["replay"]
    _send(world, name, body, nonce=nonce)


@when(parsers.parse('"{name}" sends {n:d} signed inferences'))
def send_many(world: dict[str, Any], name: str, n: int) -> None:
    world["answers"] = []
    world.setdefault("by", {})[name] = [_send(world, name) for _ in range(n)]


@when(parsers.parse('"{name}" sends a signed inference for the task "{task}"'))
def send_task(world: dict[str, Any], name: str, task: str) -> None:
    _send(world, name, {"task": task, "payload": {}})


FAULTS = {"a wrong signature", "an unknown key", "a timestamp 6 min old",
          "a malformed timestamp", "a nonce containing a pipe"}


@when(parsers.parse('"{name}" sends a signed inference with {fault}'))
def send_fault(world: dict[str, Any], name: str, fault: str) -> None:
    assert fault in FAULTS
    lab: ApiLab = world["lab"]
    t: Client = world["tenants"][name]
    body = json.dumps(infer_body("fault")).encode()
    h = lab.sign(t, "POST", "/v1/infer", body)
    if fault == "a wrong signature":
        h["X-Signature"] = lab.sign(Client(t.tenant_id, t.key, "wrong"), "POST", "/v1/infer",
                                    body)["X-Signature"]
    elif fault == "an unknown key":
        h["X-Api-Key"] = "vvtv-pub-0123456789abcdef"
    elif fault == "a timestamp 6 min old":
        h = lab.sign(t, "POST", "/v1/infer", body, ts_ms=lab.now_ms() - 360_000)
    elif fault == "a malformed timestamp":
        h["X-Timestamp"] = "2026-01-01T00:00:00Z"
    else:
        h["X-Nonce"] = str(uuid.uuid4())[:-1] + "|"
    world["last"] = lab.call(None, "POST", "/v1/infer", body, headers=h)


def _token(world: dict[str, Any], name: str, **over: Any) -> str:
    lab: ApiLab = world["lab"]
    lay, a = lab.gateway.layout, lab.gateway.config.auth
    t: Client = world["tenants"][name]
    if not over:
        return jwtauth.issue(lay.keys, lay.jwks, tenant_id=t.tenant_id, scopes=["infer"],
                             ttl_s=600, issuer=a.jwt_issuer, audience=a.jwt_audience,
                             clock=world["clock"])
    now = int(world["clock"].now().timestamp())
    claims = {"tenant_id": t.tenant_id, "scopes": ["infer"], "iat": now, "exp": now + 600,
              "iss": a.jwt_issuer, "aud": a.jwt_audience, **over.get("claims", {})}
    kid = json.loads(lay.jwks.read_text())["keys"][-1]["kid"]
    if over.get("alg") == "none":
        enc = [base64.urlsafe_b64encode(json.dumps(x).encode()).rstrip(b"=").decode()
               for x in ({"alg": "none", "kid": kid}, claims)]
        return ".".join(enc) + "."
    key = serialization.load_pem_private_key(jwtauth.key_path(lay.keys, kid).read_bytes(),
                                             None)
    return jwt.encode(claims, key, algorithm="EdDSA",  # type: ignore[arg-type]
                      headers={"kid": over.get("kid", kid)})


@when(parsers.parse('"{name}" sends an inference with a bearer token from the lab key'))
def send_jwt(world: dict[str, Any], name: str) -> None:
    world["token"] = _token(world, name)
    world["last"] = world["lab"].call(None, "POST", "/v1/infer", infer_body("jwt"),
                                      headers={"Authorization": f"Bearer {world['token']}"})


@when(parsers.parse('"{name}" sends an inference with the same bearer token'))
def send_jwt_again(world: dict[str, Any], name: str) -> None:
    world["last"] = world["lab"].call(None, "POST", "/v1/infer", infer_body("jwt"),
                                      headers={"Authorization": f"Bearer {world['token']}"})


@when(parsers.parse('"{name}" sends an inference with a bearer token that has {flaw}'))
def send_bad_jwt(world: dict[str, Any], name: str, flaw: str) -> None:
    now = int(world["clock"].now().timestamp())
    over = {"alg none": {"alg": "none"}, "an unknown kid": {"kid": "lab-unknown"},
            "a lifetime over 15 minutes": {"claims": {"exp": now + 901}},
            "the wrong audience": {"claims": {"aud": "elsewhere"}}}[flaw]
    tok = _token(world, name, **over)
    world["last"] = world["lab"].call(None, "POST", "/v1/infer", infer_body("jwt"),
                                      headers={"Authorization": f"Bearer {tok}"})


@when(parsers.parse("the clock moves {n:d} minutes on"))
def minutes(world: dict[str, Any], n: int) -> None:
    world["clock"].advance(n * 60)


@when(parsers.parse("the clock moves {n:d} seconds on"))
def seconds(world: dict[str, Any], n: int) -> None:
    world["clock"].advance(n)


@when(parsers.parse('the operator suspends "{name}"'))
def suspend(world: dict[str, Any], name: str) -> None:
    world["lab"].tenants.set_status(world["tenants"][name].tenant_id, "suspended")


@when(parsers.parse('"{name}" asks for the usage of "{other}"'))
def usage_of(world: dict[str, Any], name: str, other: str) -> None:
    tid = world["tenants"][other].tenant_id
    world["last"] = world["lab"].call(world["tenants"][name], "GET",
                                      f"/v1/usage?from=2020-01-01&tenant_id={tid}")


@when(parsers.parse('"{name}" asks for its own usage'))
def own_usage(world: dict[str, Any], name: str) -> None:
    world["last"] = world["lab"].call(world["tenants"][name], "GET", "/v1/usage?from=2020-01-01")


@when(parsers.parse("a client sends {method} {target} without credentials"))
def send_unrouted(world: dict[str, Any], method: str, target: str) -> None:
    world["last"] = world["lab"].call(None, method, target)


@when("a client sends a request line no HTTP parser can read")
def send_garbage(world: dict[str, Any]) -> None:
    raw = raw_http(world["lab"].base_url, b"NOT HTTP AT ALL\r\n\r\n")
    assert raw.closed
    world["last"] = httpx.Response(raw.status, headers=raw.headers, content=raw.body)


@then("the answer is 200 with the seed's fields")
def ok_fields(world: dict[str, Any]) -> None:
    r = world["last"]
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"request_id", "tenant_id", "winner_model", "strategy_used",
                             "duration_ms", "from_cache", "content"}


@then(parsers.re(r"the answer is (?P<status>\d+) (?P<code>[A-Z_]+)$"),
      converters={"status": int})
def refused(world: dict[str, Any], status: int, code: str) -> None:
    r = world["last"]
    assert r.status_code == status, r.text
    assert r.json() == {"error": code, "message": r.json()["message"],
                        "request_id": r.headers["x-request-id"]}
    assert r.headers["x-content-type-options"] == "nosniff"


@then(parsers.parse("{ok:d} are answered and {no:d} are refused with 429 RATE_LIMITED and "
                    "Retry-After"))
def rate_limited(world: dict[str, Any], ok: int, no: int) -> None:
    codes = [r.status_code for r in world["answers"]]
    assert codes == [200] * ok + [429] * no
    for r in world["answers"][ok:]:
        assert r.json()["error"] == "RATE_LIMITED" and int(r.headers["retry-after"]) >= 1


@then(parsers.parse('"{name}" had every request answered'))
def all_answered(world: dict[str, Any], name: str) -> None:
    assert all(r.status_code == 200 for r in world["by"][name])


@then("the 8th answer warns at 80% and the 9th at 90%")
def warnings(world: dict[str, Any]) -> None:
    got = [r.headers.get("x-quota-warning") for r in world["answers"]]
    assert all(r.status_code == 200 for r in world["answers"])
    assert got[:7] == [None] * 7 and got[7] == "80%" and got[8] == "90%"


@then("no answer carries content that breaks the task's schema")
def clean(world: dict[str, Any]) -> None:
    for r in world["answers"]:
        assert r.status_code in (200, 502), r.text
        if r.status_code == 200:
            assert check_content("expand_queries", {"seed": "x"}, r.json()["content"]) is None
        else:
            assert r.json()["error"] == "PROVIDER_FAILED"


@then(parsers.parse('the usage shows {n:d} inferences for "{name}"'))
def usage_shows(world: dict[str, Any], n: int, name: str) -> None:
    body = world["last"].json()
    assert world["last"].status_code == 200
    assert body["tenant_id"] == world["tenants"][name].tenant_id
    assert body["by_route"].get("/v1/infer", {"requests": 0})["requests"] == n
