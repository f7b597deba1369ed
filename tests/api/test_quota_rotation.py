"""Monthly quotas reserved at admission (80/90 % warnings, 402 at 100 %, no overshoot under
concurrency) and key rotation (new key at T0, old one until T0+7d, once per 24 h)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from vvtvlib.api.config import ApiConfig, Plan
from vvtvlib.api.lab import ApiLab, Client, infer_body
from vvtvlib.core.clock import FakeClock
from vvtvlib.pool.emulator import EmulatorProcess

PLANS = {"free": Plan(rpm=60000, burst=1000, requests_month=10, tokens_month=10**9),
         "pro": Plan(rpm=60000, burst=1000, requests_month=100, tokens_month=10**9),
         "enterprise": Plan(rpm=60000, burst=1000, requests_month=10**6,
                            tokens_month=10**9)}


@pytest.fixture(scope="module")
def qlab(tmp_path_factory: pytest.TempPathFactory, duo: list[EmulatorProcess],
         clock: FakeClock) -> Iterator[ApiLab]:
    with ApiLab(tmp_path_factory.mktemp("quota"), clock=clock, emulators=duo,
                config=ApiConfig(plans=PLANS)) as lab:
        yield lab


def test_warnings_at_80_and_90_percent_then_402(qlab: ApiLab) -> None:
    t = qlab.tenant("Small", plan="free")
    warnings = []
    for i in range(10):
        r = qlab.call(t, "POST", "/v1/infer", infer_body(f"q {i}"))
        assert r.status_code == 200
        warnings.append(r.headers.get("x-quota-warning"))
    assert warnings[:7] == [None] * 7 and warnings[7] == "80%" and warnings[8:] == ["90%"] * 2
    r = qlab.call(t, "POST", "/v1/infer", infer_body("over"))
    assert r.status_code == 402 and r.json()["error"] == "QUOTA_EXCEEDED"
    assert qlab.call(t, "GET", "/v1/usage").status_code == 200  # usage is not quota-bound

def test_a_refused_request_gives_its_reservation_back(qlab: ApiLab) -> None:
    t = qlab.tenant("Refunds", plan="free")
    for _ in range(5):
        assert qlab.call(t, "POST", "/v1/infer", {"task": "nope", "payload": {}}
                         ).status_code == 422
    ok = sum(qlab.call(t, "POST", "/v1/infer", infer_body(f"r {i}")).status_code == 200
             for i in range(12))
    assert ok == 10


def test_concurrent_requests_at_99_percent_never_overshoot(qlab: ApiLab) -> None:
    t = qlab.tenant("Busy", plan="pro")
    keys, _ = qlab.gateway._quota_keys(t.tenant_id)
    qlab.gateway.limits.reserve(keys, [99, 0], [100, 10**9], [0, 0], 10**9)  # 99 % used
    bodies = [json.dumps(infer_body(f"c {i}")).encode() for i in range(30)]

    def one(b: bytes) -> int:
        h = {"Content-Type": "application/json", **qlab.sign(t, "POST", "/v1/infer", b)}
        with httpx.Client(timeout=30) as c:
            return c.post(qlab.base_url + "/v1/infer", content=b, headers=h).status_code
    with ThreadPoolExecutor(30) as ex:
        codes = list(ex.map(one, bodies))
    assert codes.count(200) == 1 and codes.count(402) == 29


def test_rotation_new_key_now_old_key_for_seven_days(qlab: ApiLab, clock: FakeClock) -> None:
    t = qlab.tenant("Rotator", plan="enterprise", scopes=["infer", "keys:rotate"])
    r = qlab.call(t, "POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    new = Client(t.tenant_id, r.json()["api_public_key"], r.json()["api_secret"])
    assert new.key != t.key
    assert r.json()["old_key_expires_at"] == qlab.now_ms() + 7 * 86400 * 1000
    # once per 24 h
    r2 = qlab.call(new, "POST", "/v1/keys/rotate")
    assert r2.status_code == 429 and r2.json()["error"] == "RATE_LIMITED"
    assert int(r2.headers["retry-after"]) == 86400
    clock.advance(3600)  # an hour later: the rest of the window
    r2 = qlab.call(new, "POST", "/v1/keys/rotate")
    assert r2.status_code == 429 and r2.headers["retry-after"] == str(86400 - 3600)
    assert qlab.call(new, "POST", "/v1/infer", infer_body("new key")).status_code == 200
    assert qlab.call(t, "POST", "/v1/infer", infer_body("old key")).status_code == 200
    clock.advance(7 * 86400)
    assert qlab.call(t, "POST", "/v1/infer", infer_body("old key")).status_code == 401
    assert qlab.call(new, "POST", "/v1/infer", infer_body("new key")).status_code == 200


def test_revoke_now_stops_the_old_key_at_once(qlab: ApiLab, clock: FakeClock) -> None:
    t = qlab.tenant("Leaky", plan="enterprise")
    creds = qlab.tenants.rotate(t.tenant_id, grace_s=7 * 86400, revoke_now=True)
    clock.advance(1)
    assert qlab.call(t, "POST", "/v1/infer", infer_body("leaked")).status_code == 401
    assert qlab.call(Client.of(creds), "POST", "/v1/infer", infer_body("fresh")
                     ).status_code == 200
    keys = qlab.tenants.keys_of(t.tenant_id)
    assert len(keys) == 2 and all(k["fingerprint"].startswith("sha256:") for k in keys)
    raw = qlab.gateway.layout.tenants_db.read_bytes()
    assert creds.api_secret.encode() not in raw and t.secret.encode() not in raw
