"""Property-based fuzzing (hypothesis) of /v1/infer and /v1/usage over real HTTP: whatever
arrives, signed or not, the answer is never a 5xx other than the pool's own 502/504, always
carries the error body and the security headers, and never a traceback or an internal path."""

from __future__ import annotations

import json
import string
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vvtvlib.api.lab import ApiLab, Client

POOL_5XX = {502, 504}  # a provider failing or the deadline passing is a legitimate answer
LEAKS = ("Traceback", 'File "', "/vvtvlib/", "site-packages", "Error:")

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20)
infer_like = st.fixed_dictionaries({}, optional={
    "task": st.one_of(st.sampled_from(["expand_queries", "judge", "rerank_candidates",
                                       "enrich_metadata", "recovery_plan"]), json_value),
    "strategy": st.one_of(st.sampled_from(["FASTEST", "VOTING", "WEIGHTED", "JUDGE",
                                           "fastest"]), json_value),
    "payload": st.one_of(st.fixed_dictionaries({"seed": st.text(max_size=30)}), json_value),
    "hints": st.one_of(st.fixed_dictionaries({}, optional={
        "deadline_ms": st.integers(-5, 20_000), "max_tokens": st.integers(-5, 4096)}),
        json_value),
    "extra": json_value})


def check(r: httpx.Response) -> None:
    assert r.status_code < 500 or r.status_code in POOL_5XX, r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"]
    for leak in LEAKS:
        assert leak not in r.text, r.text
    body = r.json()
    if r.status_code >= 400:
        assert set(body) == {"error", "message", "request_id"}


FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def tenant(lab: ApiLab) -> Client:
    if not hasattr(lab, "_fuzz_tenant"):
        lab._fuzz_tenant = lab.tenant("Fuzz", rpm=10**6, burst=10**6)  # type: ignore[attr-defined]
    t: Client = lab._fuzz_tenant  # type: ignore[attr-defined]
    return t


@FUZZ
@given(body=st.one_of(infer_like.map(lambda d: json.dumps(d).encode()),
                      st.binary(max_size=300)))
def test_signed_infer_bodies(lab: ApiLab, body: bytes) -> None:
    check(lab.call(tenant(lab), "POST", "/v1/infer", body))


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["from", "to", "tenant_id", "x", "from[]"]),
                              st.text(string.ascii_letters + string.digits + "-:TZ.+",
                                      max_size=30), max_size=3))
def test_signed_usage_queries(lab: ApiLab, params: dict[str, str]) -> None:
    target = str(httpx.URL("/v1/usage", params=params))
    check(lab.call(tenant(lab), "GET", target))


@FUZZ
@given(headers=st.dictionaries(
    st.sampled_from(["X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature", "Authorization",
                     "X-Client-Verify", "X-Client-S-DN", "X-Gateway-Token", "X-Request-Id",
                     "Content-Length"]),
    st.text(string.printable.strip() + " ", max_size=60), max_size=6),
    body=st.binary(max_size=100))
def test_unsigned_garbage_headers(lab: ApiLab, headers: dict[str, str], body: bytes) -> None:
    headers = {k: v.strip() for k, v in headers.items() if k != "Content-Length"}
    try:
        r = lab.call(None, "POST", "/v1/infer", body, headers=headers)
    except httpx.HTTPError:  # the client refused to send it (an invalid header value)
        return
    check(r)
    assert r.status_code in (401, 403, 413, 422), r.text


def test_payload_kinds(lab: ApiLab) -> None:
    body: dict[str, Any] = {"task": "expand_queries", "payload": {"seed": "x" * 10_000}}
    check(lab.call(tenant(lab), "POST", "/v1/infer", body))
