"""Step bindings for ``n_audit_usage.feature``: a real pool-api (uvicorn on 127.0.0.1) over
emulator processes, the clock injected."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from vvtvlib.api.config import ApiConfig
from vvtvlib.api.lab import ACCEPTANCE_PLANS, ApiLab, Client, infer_body
from vvtvlib.api.rollup import rollup_day
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.evidence import verify_chain
from vvtvlib.pool.emulator import EmulatorProcess, start_emulators, stop_all

pytestmark = [pytest.mark.timeout(120)]
scenarios("n_audit_usage.feature")

PLANS = ACCEPTANCE_PLANS


@pytest.fixture(scope="module")
def duo_audit() -> Iterator[list[EmulatorProcess]]:
    ems = start_emulators([("m1", "0"), ("m2", "0")])
    yield ems
    stop_all(ems)


@pytest.fixture
def world() -> Iterator[dict[str, Any]]:
    w: dict[str, Any] = {"tenants": {}, "sent": [], "answers": [], "needles": []}
    yield w
    if "lab" in w:
        w["lab"].close()


def lab_of(world: dict[str, Any]) -> ApiLab:
    return world["lab"]  # type: ignore[no-any-return]


def audit(world: dict[str, Any]) -> list[dict[str, Any]]:
    lab = lab_of(world)
    lab.gateway.audit.flush()
    return [json.loads(x) for x in lab.gateway.layout.audit_log.read_text().splitlines()]


def requests_total(world: dict[str, Any]) -> Counter[tuple[str, str]]:
    lab = lab_of(world)
    text = lab.http.get(lab.base_url + "/metrics").text
    out: Counter[tuple[str, str]] = Counter()
    for m in re.finditer(r'^api_requests_total\{(.*?)\} ([0-9.e+]+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        out[(labels["route"], labels["code"])] = int(float(m.group(2)))
    return out


def keep(world: dict[str, Any], r: Any) -> Any:
    world["sent"].append(("/v1/infer", r.status_code, r.headers["x-request-id"]))
    world["answers"].append(r)
    return r


@given("a running pool-api over emulated models")
def running(world: dict[str, Any], tmp_path: Path, duo_audit: list[EmulatorProcess]) -> None:
    clock = FakeClock(start=datetime.now(UTC).replace(microsecond=0))
    world["clock"] = clock
    world["lab"] = ApiLab(tmp_path / uuid.uuid4().hex[:6], clock=clock,
                          config=ApiConfig(plans=PLANS), emulators=duo_audit).start()
    world["before"] = requests_total(world)


@given(parsers.parse('a tenant "{name}" with scopes infer and usage'))
def tenant(world: dict[str, Any], name: str) -> None:
    world["tenants"][name] = lab_of(world).tenant(name)


@given(parsers.parse('a tenant "{name}" on a plan of {n:d} requests a month'))
def small(world: dict[str, Any], name: str, n: int) -> None:
    world["tenants"][name] = lab_of(world).tenant(name, plan="free")


@given(parsers.parse('a tenant "{name}" allowed to rotate its keys'))
def rotator(world: dict[str, Any], name: str) -> None:
    world["tenants"][name] = lab_of(world).tenant(name, scopes=["infer", "keys:rotate"])


@when(parsers.parse('"{name}" sends {n:d} signed inferences about "{text}"'))
def send_many(world: dict[str, Any], name: str, n: int, text: str) -> None:
    world["needles"].append(text)
    for i in range(n):
        keep(world, lab_of(world).call(world["tenants"][name], "POST", "/v1/infer",
                                       infer_body(f"{text} {i}")))


@when(parsers.parse('"{name}" sends an inference with a wrong signature'))
def wrong_signature(world: dict[str, Any], name: str) -> None:
    lab, t = lab_of(world), world["tenants"][name]
    body = json.dumps(infer_body("signed wrong")).encode()
    h = lab.sign(t, "POST", "/v1/infer", body)
    h["X-Signature"] = "Q" * 43 + "="
    world["needles"].append(h["X-Signature"])
    keep(world, lab.call(None, "POST", "/v1/infer", body, headers=h))


@when(parsers.parse('"{name}" replays a signed inference'))
def replay(world: dict[str, Any], name: str) -> None:
    lab, t = lab_of(world), world["tenants"][name]
    nonce = str(uuid.uuid4())
    keep(world, lab.call(t, "POST", "/v1/infer", infer_body("replayed"), nonce=nonce))
    keep(world, lab.call(t, "POST", "/v1/infer", infer_body("replayed"), nonce=nonce))


@when(parsers.parse('"{name}" sends an inference from the address "{ip}" through the gateway'))
def from_gateway(world: dict[str, Any], name: str, ip: str) -> None:
    lab = lab_of(world)
    token = lab.gateway.layout.gateway_token.read_text().strip()
    world["needles"] += [ip, token]
    world["ip"] = ip
    keep(world, lab.call(world["tenants"][name], "POST", "/v1/infer", infer_body("via nginx"),
                         headers={"X-Gateway-Token": token, "X-Real-IP": ip}))


@when(parsers.parse('"{name}" rotates its key through POST /v1/keys/rotate'))
def rotate(world: dict[str, Any], name: str) -> None:
    lab, t = lab_of(world), world["tenants"][name]
    r = lab.call(t, "POST", "/v1/keys/rotate")
    assert r.status_code == 200, r.text
    world["new"] = Client(t.tenant_id, r.json()["api_public_key"], r.json()["api_secret"])
    world["rotation_rid"] = r.headers["x-request-id"]
    world["clock"].advance(1)


@when(parsers.parse("the clock moves {n:d} days on"))
def days_on(world: dict[str, Any], n: int) -> None:
    world["clock"].advance(n * 86400)


@then("the audit has one line per request with its status")
def one_line_each(world: dict[str, Any]) -> None:
    lines = [x for x in audit(world) if x.get("kind") == "request"]
    by_id = Counter(x["request_id"] for x in lines)
    status = {x["request_id"]: x["status"] for x in lines}
    assert [s for _, s, _ in world["sent"]] == [200, 200, 200, 401, 200, 409, 200]
    for _, s, rid in world["sent"]:
        assert by_id[rid] == 1 and status[rid] == s
    via = next(x for x in lines if x["request_id"] == world["sent"][-1][2])
    assert via["ip"] == "198.51.100.0/24"


@then("the audit chain verifies and names an edited line by its number")
def chain(world: dict[str, Any], tmp_path: Path) -> None:
    path = lab_of(world).gateway.layout.audit_log
    assert verify_chain(path).ok
    copy = tmp_path / "audit.jsonl"
    shutil.copy(path, copy)
    shutil.copy(path.with_name(path.name + ".head"), tmp_path / "audit.jsonl.head")
    lines = copy.read_text().splitlines()
    lines[2] = lines[2].replace('"status":', '"status":4', 1)
    copy.write_text("\n".join(lines) + "\n")
    assert verify_chain(copy).first_bad_line == 3


@then("no secret, signature, payload text or full IP is in the audit, the logs or /metrics")
def nothing_sensitive(world: dict[str, Any]) -> None:
    lab = lab_of(world)
    lay = lab.gateway.layout
    texts = [p.read_text() for p in (lay.audit_log, lay.access_log, lay.error_log,
                                     lay.logs / "pool.jsonl")]
    texts.append(lab.http.get(lab.base_url + "/metrics").text)
    needles = world["needles"] + [t.secret for t in world["tenants"].values()] + \
        [t.key for t in world["tenants"].values()]
    for text in texts:
        for needle in needles:
            assert needle not in text, needle
        assert '"content"' not in text and '"payload"' not in text


@then("/metrics counts the requests by route and code")
def metrics_add_up(world: dict[str, Any]) -> None:
    after = requests_total(world)
    sent = Counter((route, str(s)) for route, s, _ in world["sent"])
    for key, n in sent.items():
        assert after[key] - world["before"][key] == n, key


@then("the 8th answer warns at 80%, the 9th at 90% and the 11th is 402 QUOTA_EXCEEDED")
def warnings(world: dict[str, Any]) -> None:
    a = world["answers"]
    assert a[7].headers.get("x-quota-warning") == "80%"
    assert a[8].headers.get("x-quota-warning") == "90%"
    assert [r.status_code for r in a] == [200] * 10 + [402]
    assert a[10].json()["error"] == "QUOTA_EXCEEDED"


@then("the audit holds the warnings at 80% and 90% and the 402")
def audited_quota(world: dict[str, Any]) -> None:
    tid = world["tenants"]["Small"].tenant_id
    lines = [x for x in audit(world) if x.get("tenant_id") == tid]
    levels = [x["level"] for x in lines if x.get("event") == "quota_warning"]
    assert 80 in levels and 90 in levels
    assert any(x.get("kind") == "request" and x["status"] == 402 for x in lines)


@then(parsers.parse('the day\'s rollup bills "{name}" for {n:d} requests, as the quota counter '
                    'says'))
def rollup_bills(world: dict[str, Any], name: str, n: int) -> None:
    lab = lab_of(world)
    lab.gateway.usage.flush()
    tid = world["tenants"][name].tenant_id
    row = next(r for r in rollup_day(lab.root, world["clock"].now().date().isoformat()).tenants
               if r.tenant_id == tid)
    keys, _ = lab.gateway._quota_keys(tid)
    used = lab.gateway.limits.reserve(keys, [0, 0], [10**15, 10**15], [0, 0], 60_000).used
    assert row.billable_requests == n == used[0] and row.billable_tokens == used[1]
    assert row.errors_by_code == {"402": 1}


@then("the new key and the old key are both answered")
def both_keys(world: dict[str, Any]) -> None:
    lab = lab_of(world)
    old = next(iter(world["tenants"].values()))
    assert lab.call(world["new"], "POST", "/v1/infer", infer_body("new")).status_code == 200
    assert lab.call(old, "POST", "/v1/infer", infer_body("old")).status_code == 200


@then(parsers.parse('a second rotation of "{name}" within 24 hours is 429 RATE_LIMITED'))
def second_rotation(world: dict[str, Any], name: str) -> None:
    r = lab_of(world).call(world["new"], "POST", "/v1/keys/rotate")
    assert r.status_code == 429 and r.json()["error"] == "RATE_LIMITED"


@then("the old key is 401 and the new key is answered")
def after_grace(world: dict[str, Any]) -> None:
    lab = lab_of(world)
    old = next(iter(world["tenants"].values()))
    assert lab.call(old, "POST", "/v1/infer", infer_body("old")).status_code == 401
    assert lab.call(world["new"], "POST", "/v1/infer", infer_body("new")).status_code == 200


@then("the rotation is in the audit chain with the new key's fingerprint only")
def rotation_audited(world: dict[str, Any]) -> None:
    lines = audit(world)
    rot = [x for x in lines if x.get("event") == "rotate"]
    assert len(rot) == 1 and rot[0]["request_id"] == world["rotation_rid"]
    text = lab_of(world).gateway.layout.audit_log.read_text()
    assert world["new"].key not in text and world["new"].secret not in text
    assert rot[0]["new_key"].endswith(world["new"].key[-4:])
    assert verify_chain(lab_of(world).gateway.layout.audit_log).ok
