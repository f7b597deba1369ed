"""`vvtvctl api up --workers 2 --limits redis` under concurrent load: `/metrics` adds up
to the requests sent (per route and code, summed over both workers), and the audit chain
written by both workers stays whole with exactly one line per request."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from vvtvlib.api.canonical import headers as signed_headers
from vvtvlib.api.config import ApiLayout
from vvtvlib.api.supervisor import api_down
from vvtvlib.core.evidence import verify_chain

from .test_live import Live, Tenant, _start, vvtvctl

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]
PAYLOAD_TEXT = "okapi-tangerine-9120"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    lv = _start("embedded", tmp_path_factory)
    try:
        yield lv
    finally:
        api_down(lv.root)


def scrape(base: str) -> dict[tuple[str, str], float]:
    text = httpx.get(base + "/metrics", timeout=30).text
    out: dict[tuple[str, str], float] = {}
    for m in re.finditer(r'^api_requests_total\{(.*?)\} ([0-9.e+]+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        out[(labels["route"], labels["code"])] = float(m.group(2))
    return out


def send(base: str, t: Tenant, kind: str, i: int) -> list[tuple[str, int, str]]:
    import time

    body = json.dumps({"task": "expand_queries", "strategy": "FASTEST",
                       "payload": {"seed": f"{PAYLOAD_TEXT} {i}"}}).encode()
    route, method = "/v1/infer", "POST"
    if kind == "usage":
        route, method, body = "/v1/usage", "GET", b""
    elif kind == "bad_task":
        body = b'{"task":"poem","payload":{}}'
    h = signed_headers(t.key, t.secret, method, route, body, ts_ms=int(time.time() * 1000),
                       nonce=str(uuid.uuid4()))
    if kind == "bad_sig":
        h["X-Signature"] = "B" * 44
    with httpx.Client(timeout=30) as c:
        r = c.request(method, base + route, content=body,
                      headers={"Content-Type": "application/json", **h})
        out = [(route, r.status_code, r.headers["x-request-id"])]
        if kind == "replay":
            r = c.request(method, base + route, content=body,
                          headers={"Content-Type": "application/json", **h})
            out.append((route, r.status_code, r.headers["x-request-id"]))
    return out


def test_metrics_and_audit_add_up_across_workers(live: Live) -> None:
    t = live.tenant("LoadCo")
    base = live.status["urls"]["pool_api"]
    before = scrape(base)
    kinds = ["ok", "ok", "ok", "bad_sig", "bad_task", "replay", "usage"]
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda i: send(base, t, kinds[i % len(kinds)], i), range(140)))
    sent = [x for group in results for x in group]
    expect = Counter((route, str(status)) for route, status, _ in sent)
    assert expect[("/v1/infer", "200")] >= 60 and expect[("/v1/infer", "401")] == 20
    assert expect[("/v1/infer", "409")] == 20 and expect[("/v1/infer", "422")] == 20
    after = scrape(base)
    for key, n in expect.items():
        assert after.get(key, 0) - before.get(key, 0) == n, key
    metrics_text = httpx.get(base + "/metrics", timeout=30).text
    for name in ("api_http_duration_ms_bucket", "api_requests_total", "llmpool_requests_total",
                 "llmpool_infer_duration_ms_bucket", "llmpool_cache_misses_total"):
        assert f"\n{name}{{" in metrics_text, name  # the pool's metrics beside the API's
    assert list((live.root / "api" / "run" / "prometheus").glob("*.db"))

    api_down(live.root)  # both workers write what they buffered on the way out
    lay = ApiLayout(live.root)
    report = verify_chain(lay.audit_log)
    assert report.ok, report
    res = vvtvctl("evidence", "verify", str(lay.audit_log), "--json")
    assert json.loads(res.stdout)["ok"] is True
    lines = [json.loads(x) for x in lay.audit_log.read_text().splitlines()]
    ids = Counter(x["request_id"] for x in lines if x.get("kind") == "request")
    for _, _, rid in sent:
        assert ids[rid] == 1, rid
    statuses = {x["request_id"]: x["status"] for x in lines if x.get("kind") == "request"}
    assert all(statuses[rid] == status for _, status, rid in sent)
    assert any(x.get("kind") == "tenant_event" and x["event"] == "create"
               and x["tenant_id"] == t.tenant_id for x in lines)
    access = lay.access_log.read_text()
    assert all(rid in access for _, _, rid in sent)
    for name, text in {"audit": lay.audit_log.read_text(), "access": access,
                       "error": lay.error_log.read_text(), "metrics": metrics_text}.items():
        assert t.secret not in text and PAYLOAD_TEXT not in text, name
        assert "B" * 44 not in text and t.key not in text, name
