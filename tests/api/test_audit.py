"""The audit trail, the access log and /metrics of pool-api (lab API over real HTTP)."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vvtvlib.api.audit import AuditWriter, truncate_ip
from vvtvlib.api.lab import ApiLab, Client, infer_body
from vvtvlib.cli.vvtvctl import app as vvtvctl
from vvtvlib.core.evidence import verify_chain

SECRET_PAYLOAD = "zebra-marmalade-4471"


def audit_lines(lab: ApiLab) -> list[dict[str, Any]]:
    lab.gateway.audit.flush()
    path = lab.gateway.layout.audit_log
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def scrape(lab: ApiLab) -> dict[tuple[str, str], float]:
    """``api_requests_total`` samples by (route, code)."""
    text = lab.http.get(lab.base_url + "/metrics").text
    out: dict[tuple[str, str], float] = {}
    for m in re.finditer(r'^api_requests_total\{(.*?)\} ([0-9.e+]+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        out[(labels["route"], labels["code"])] = float(m.group(2))
    return out


@pytest.fixture(scope="module")
def acme(lab: ApiLab) -> Client:
    return lab.tenant("AuditAcme", scopes=["infer", "usage"])


@pytest.fixture(scope="module")
def tour(lab: ApiLab, acme: Client) -> dict[str, Any]:
    """One request of each kind; what was sent (request ids by status) and the scrape
    before and after."""
    before = scrape(lab)
    sent: list[tuple[str, int, str]] = []  # (route, status, request_id)

    def keep(route: str, r: Any) -> None:
        sent.append((route, r.status_code, r.headers["x-request-id"]))

    body = infer_body(SECRET_PAYLOAD)
    keep("/v1/infer", lab.call(acme, "POST", "/v1/infer", body,
                               headers={"X-Real-IP": "203.0.113.77"}))
    bad = lab.sign(acme, "POST", "/v1/infer", json.dumps(body).encode())
    bad["X-Signature"] = "A" * 44
    keep("/v1/infer", lab.call(None, "POST", "/v1/infer", body, headers=bad))
    nonce = str(uuid.uuid4())
    keep("/v1/infer", lab.call(acme, "POST", "/v1/infer", infer_body("n1"), nonce=nonce))
    keep("/v1/infer", lab.call(acme, "POST", "/v1/infer", infer_body("n1"), nonce=nonce))
    keep("/v1/infer", lab.call(acme, "POST", "/v1/infer", b"a" * (1024 * 1024 + 1)))
    keep("/v1/infer", lab.call(acme, "POST", "/v1/infer", {"task": "poem", "payload": {}}))
    tiny = lab.tenant("AuditTiny", rpm=1, burst=1)
    keep("/v1/infer", lab.call(tiny, "POST", "/v1/infer", infer_body("t1")))
    keep("/v1/infer", lab.call(tiny, "POST", "/v1/infer", infer_body("t2")))
    keep("/v1/usage", lab.call(acme, "GET", "/v1/usage"))
    r = lab.call(None, "GET", "/nope")
    sent.append(("unmatched", r.status_code, r.headers["x-request-id"]))
    tp = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    keep("/v1/infer", lab.call(acme, "POST", "/v1/infer", infer_body("traced"),
                               headers={"traceparent": tp}))
    return {"sent": sent, "before": before, "after": scrape(lab), "acme": acme,
            "tiny": tiny, "traceparent": tp}


def test_every_request_has_one_audit_line_with_the_seeds_fields(lab: ApiLab,
                                                               tour: dict[str, Any]) -> None:
    statuses = sorted(s for _, s, _ in tour["sent"])
    assert statuses == sorted([200, 401, 200, 409, 413, 422, 200, 429, 200, 404, 200])
    lines = [x for x in audit_lines(lab) if x.get("kind") == "request"]
    by_id = {x["request_id"]: x for x in lines}
    for route, status, rid in tour["sent"]:
        line = by_id[rid]
        assert line["status"] == status and line["route"] == route
        assert {"ts", "request_id", "tenant_id", "route", "task", "strategy", "status",
                "duration_ms", "tokens_in", "tokens_out", "provider", "from_cache", "hedge",
                "ip"} <= set(line)
    ok = by_id[tour["sent"][0][2]]
    assert ok["tenant_id"] == tour["acme"].tenant_id and ok["task"] == "expand_queries"
    assert ok["tokens_in"] > 0 and ok["provider"] and ok["ip"] == "127.0.0.0/24"
    assert by_id[tour["sent"][1][2]]["tenant_id"] is None  # refused before a tenant was known
    assert by_id[tour["sent"][7][2]]["tenant_id"] == tour["tiny"].tenant_id


def test_the_audit_is_a_valid_chain_and_verify_names_an_edited_line(
        lab: ApiLab, tour: dict[str, Any], tmp_path: Path) -> None:
    lines = audit_lines(lab)
    path = lab.gateway.layout.audit_log
    assert verify_chain(path).ok
    copy = tmp_path / "api_requests.jsonl"
    shutil.copy(path, copy)
    shutil.copy(path.with_name(path.name + ".head"), tmp_path / "api_requests.jsonl.head")
    raw = copy.read_text().splitlines()
    raw[3] = raw[3].replace('"status":', '"status":1', 1)
    copy.write_text("\n".join(raw) + "\n")
    res = CliRunner().invoke(vvtvctl, ["evidence", "verify", str(copy), "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["first_bad_line"] == 4
    del raw[3]
    shutil.copy(path, copy)
    raw = copy.read_text().splitlines()
    raw[2], raw[5] = raw[5], raw[2]
    copy.write_text("\n".join(raw) + "\n")
    assert verify_chain(copy).first_bad_line == 3
    assert len(lines) >= len(tour["sent"])


def test_no_secret_signature_payload_or_full_ip_anywhere(lab: ApiLab,
                                                         tour: dict[str, Any]) -> None:
    audit_lines(lab)
    lay = lab.gateway.layout
    texts = {p.name: p.read_text() for p in (lay.audit_log, lay.access_log, lay.error_log)}
    texts["metrics"] = lab.http.get(lab.base_url + "/metrics").text
    for who in (tour["acme"], tour["tiny"]):
        for name, text in texts.items():
            assert who.secret not in text, name
            assert who.key not in text, name  # only fingerprints
    for name, text in texts.items():
        assert SECRET_PAYLOAD not in text, name
        assert "A" * 44 not in text, name
        assert "203.0.113.77" not in text, name
        assert '"content"' not in text, name


def test_the_access_log_carries_the_callers_trace(lab: ApiLab, tour: dict[str, Any]) -> None:
    rid = tour["sent"][-1][2]
    rows = [json.loads(x) for x in lab.gateway.layout.access_log.read_text().splitlines()]
    row = next(r for r in rows if r["request_id"] == rid)
    assert row["trace_id"] == "ab" * 16 and row["span_id"] != "cd" * 8
    assert row["status"] == 200 and row["ip"] == "127.0.0.0/24"
    assert {r["request_id"] for r in rows} >= {rid for _, _, rid in tour["sent"]}


def test_metrics_add_up_to_the_requests_sent(tour: dict[str, Any]) -> None:
    sent = Counter((route, str(status)) for route, status, _ in tour["sent"])
    for key, n in sent.items():
        assert tour["after"].get(key, 0) - tour["before"].get(key, 0) == n, key


def test_metrics_name_every_api_and_pool_metric(lab: ApiLab, tour: dict[str, Any]) -> None:
    from vvtvlib.core import metric_names as mn

    text = lab.http.get(lab.base_url + "/metrics").text
    for m in (mn.API_HTTP_DURATION, mn.API_REQUESTS, mn.API_RATE_LIMITED,
              mn.API_QUOTA_EXCEEDED, mn.LLMPOOL_INFER_DURATION, mn.LLMPOOL_REQUESTS,
              mn.LLMPOOL_CACHE_MISSES):
        assert m.series()[0] in text, m.name
    assert f'api_rate_limited_total{{tenant_id="{tour["tiny"].tenant_id}"}}' in text
    # a caller cannot mint label values: an unknown key or tenant-like headers are "unknown"
    body = json.dumps(infer_body("labels")).encode()
    h = lab.sign(tour["acme"], "POST", "/v1/infer", body)
    h.update({"X-Api-Key": "vvtv-pub-evil0000000000", "X-Tenant-Id": "t_evil00000000"})
    assert lab.call(None, "POST", "/v1/infer", body, headers=h).status_code == 401
    text = lab.http.get(lab.base_url + "/metrics").text
    tenants = set(re.findall(r'tenant_id="([^"]*)"', text))
    assert "unknown" in tenants and not any("evil" in t for t in tenants)
    assert all(re.fullmatch(r"t_[0-9a-f]{12}|unknown", t) for t in tenants), tenants
    assert {t.id for t in lab.gateway.tenants.all()} >= {tour["acme"].tenant_id}


def test_tenant_events_from_the_cli_join_the_chain(lab: ApiLab) -> None:
    root = str(lab.root)
    run = CliRunner().invoke
    res = run(vvtvctl, ["tenants", "create", "--root", root, "--name", "EvCo", "--rpm", "60",
                        "--burst", "5", "--json"])
    assert res.exit_code == 0, res.output
    creds = json.loads(res.stdout)
    for args in (["suspend", creds["tenant_id"]], ["resume", creds["tenant_id"]],
                 ["set-limits", creds["tenant_id"], "--rpm", "120"],
                 ["rotate", creds["tenant_id"], "--revoke-now"]):
        res = run(vvtvctl, ["tenants", *args, "--root", root, "--json"])
        assert res.exit_code == 0, res.output
    events = [x for x in audit_lines(lab) if x.get("kind") == "tenant_event"
              and x["tenant_id"] == creds["tenant_id"]]
    assert [e["event"] for e in events] == ["create", "suspend", "resume", "limits", "rotate",
                                            "revoke"]
    text = lab.gateway.layout.audit_log.read_text()
    assert creds["api_secret"] not in text and creds["api_public_key"] not in text
    assert verify_chain(lab.gateway.layout.audit_log).ok


@pytest.mark.parametrize("ip, net", [("203.0.113.77", "203.0.113.0/24"),
                                     ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
                                     ("::ffff:10.1.2.3", "10.1.2.0/24"), ("junk", "")])
def test_ips_are_truncated(ip: str, net: str) -> None:
    assert truncate_ip(ip) == net


def _writer(path: str, n: int, tag: int) -> None:
    w = AuditWriter(path)
    for i in range(n):
        w.add({"kind": "request", "request_id": f"{tag}-{i}", "ts": "2026-01-01T00:00:00Z"})
        if i % 7 == 0:
            w.flush()
    w.flush()


def test_several_processes_keep_the_chain_whole(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "api_requests.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), 300, t)) for t in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    report = verify_chain(path)
    assert report.ok and report.lines == 1200
    ids = [json.loads(x)["request_id"] for x in path.read_text().splitlines()]
    assert len(set(ids)) == 1200
    for t in range(4):  # each writer's lines in its own order
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"{t}-")]
        assert mine == sorted(mine)


def test_every_dashboard_query_names_a_metric_the_api_exports(lab: ApiLab,
                                                              tour: dict[str, Any]) -> None:
    """dashboards/api_health.json and tenant_usage.json (built with grafana-foundation-sdk)
    against a live scrape of pool-api."""
    from vvtvlib.ops.dashboards import API_BOARDS, dashboard_queries
    from vvtvlib.ops.generate import REPO
    from vvtvlib.ops.promql import metric_names_in

    text = lab.http.get(lab.base_url + "/metrics").text
    declared = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    sampled = set(re.findall(r"^([a-zA-Z_:][\w:]*)[{ ]", text, re.M))
    for board in API_BOARDS:
        doc = json.loads((REPO / "dashboards" / f"{board}.json").read_text())
        assert doc["uid"] == f"vvtv-{board.replace('_', '-')}" and doc["panels"]
        names = {n for q in dashboard_queries(json.dumps(doc)) for n in metric_names_in(q)}
        assert names, board
        for name in names:
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert name in sampled or base in declared or \
                base.removesuffix("_total") in declared, (board, name)


def test_one_trace_through_api_pool_and_provider_logs(tmp_path: Path) -> None:
    """`traceparent` travels API -> pool -> provider: the same trace id in
    logs/api_access.log, logs/pool.jsonl and the emulator's call log, each hop a child span."""
    from vvtvlib.pool.emulator.process import EmulatorProcess, free_port, stop_all

    em_log = tmp_path / "emulator_m1.jsonl"
    em = EmulatorProcess("m1", free_port(), "0", log=str(em_log)).start()
    try:
        with ApiLab(tmp_path / "root", emulators=[em]) as lab:
            who = lab.tenant("Tracer")
            trace_id, parent = "5e" * 16, "7a" * 8
            r = lab.call(who, "POST", "/v1/infer", infer_body("follow me"),
                         headers={"traceparent": f"00-{trace_id}-{parent}-01"})
            assert r.status_code == 200, r.text
            rid = r.headers["x-request-id"]
            logs = lab.root / "logs"
    finally:
        stop_all([em])
    access = [json.loads(x) for x in (logs / "api_access.log").read_text().splitlines()]
    api_row = next(x for x in access if x["request_id"] == rid)
    pool_rows = [json.loads(x) for x in (logs / "pool.jsonl").read_text().splitlines()]
    pool_row = next(x for x in pool_rows if x["trace_id"] == trace_id)
    em_rows = [json.loads(x) for x in em_log.read_text().splitlines()]
    em_row = next(x for x in em_rows if x["trace_id"] == trace_id)
    assert api_row["trace_id"] == trace_id and pool_row["outcome"] == "ok"
    spans = {parent, api_row["span_id"], pool_row["span_id"], em_row["span_id"]}
    assert len(spans) == 4  # four distinct spans of one trace
    assert em_row["path"] == "/api/chat" and em_row["status"] == 200
    assert "follow me" not in (logs / "pool.jsonl").read_text() + em_log.read_text()


def test_a_log_edited_behind_the_writer_is_refused_and_nothing_is_dropped(
        tmp_path: Path) -> None:
    path = tmp_path / "api_requests.jsonl"
    w = AuditWriter(path)
    for i in range(3):
        w.add({"kind": "request", "request_id": f"r{i}"})
    assert w.flush() == 3
    with path.open("a") as fh:  # a line written outside the evidence writer
        fh.write('{"kind":"request","request_id":"forged"}\n')
    w.add({"kind": "request", "request_id": "r3"})
    from vvtvlib.core.evidence import EvidenceTampered

    with pytest.raises(EvidenceTampered):
        w.flush()
    assert w.pending() == 1  # kept, never re-anchored over the forged line
    assert verify_chain(path).first_bad_line == 4


def test_lines_given_up_past_the_pending_bound_are_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vvtvlib.api.audit as audit
    from vvtvlib.core.evidence import EvidenceTampered

    monkeypatch.setattr(audit, "MAX_PENDING", 2)
    path = tmp_path / "api_requests.jsonl"
    w = AuditWriter(path)
    w.add({"kind": "request", "request_id": "r0"})
    w.flush()
    with path.open("a") as fh:
        fh.write('{"kind":"request","request_id":"forged"}\n')
    for i in range(1, 4):
        w.add({"kind": "request", "request_id": f"r{i}"})
    with pytest.raises(EvidenceTampered):
        w.flush()
    assert (w.pending(), w.dropped) == (2, 1)  # the oldest went, and it is said
