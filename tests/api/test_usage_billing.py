"""Daily rollups (JSON, CSV, Parquet; byte-identical re-runs), the month report against the
quota counters, /v1/usage from the same data, and the signed billing webhook with its
receiver killed mid-delivery."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from vvtvlib.api import billing
from vvtvlib.api.config import ApiLayout, BillingSettings
from vvtvlib.api.lab import ApiLab, Client, infer_body
from vvtvlib.api.rollup import TenantDay, month_report, read_parquet, rollup_day
from vvtvlib.cli.vvtvctl import app as vvtvctl
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.evidence import verify_chain
from vvtvlib.pool.emulator.process import free_port


@pytest.fixture(scope="module")
def traffic(lab: ApiLab, clock: FakeClock) -> dict[str, Any]:
    a = lab.tenant("RollA", scopes=["infer", "usage"])
    b = lab.tenant("RollB", plan="free", scopes=["infer", "usage"])
    for i in range(12):
        lab.call(a, "POST", "/v1/infer", infer_body(f"roll a {i}"))
    for _ in range(3):
        lab.call(a, "POST", "/v1/infer", {"task": "poem", "payload": {}})
    for i in range(5):
        lab.call(b, "POST", "/v1/infer", infer_body(f"roll b {i}", task="judge"))
    lab.call(b, "GET", "/v1/usage")
    lab.gateway.usage.flush()
    return {"a": a, "b": b, "day": clock.now().date().isoformat()}


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_rollup_writes_three_identical_views_and_reruns_byte_for_byte(
        lab: ApiLab, traffic: dict[str, Any]) -> None:
    r = rollup_day(lab.root, traffic["day"])
    rows = {t.tenant_id: t for t in r.tenants}
    a = rows[traffic["a"].tenant_id]
    assert a.requests == 15 and a.errors == 3 and a.errors_by_code == {"422": 3}
    assert a.billable_requests == 12 and a.tokens_in > 0 and a.tokens_out > 0
    assert a.bytes_in > 0 and a.bytes_out > 0 and a.p50_ms is not None
    assert a.p95_ms is not None and a.p95_ms >= a.p50_ms
    b = rows[traffic["b"].tenant_id]
    assert b.requests == 6 and b.billable_requests == 5
    doc = json.loads(Path(r.files["json"]).read_text())
    assert doc["day"] == traffic["day"] and len(doc["tenants"]) == len(r.tenants)
    with open(r.files["csv"], newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    pq_rows = read_parquet(r.files["parquet"])
    for got in (csv_rows, pq_rows):
        by = {x["tenant_id"]: x for x in got}
        assert int(by[a.tenant_id]["tokens_in"]) == a.tokens_in
        assert json.loads(by[a.tenant_id]["errors_by_code"]) == {"422": 3}
        assert float(by[a.tenant_id]["p95_ms"]) == a.p95_ms
    before = {k: sha(p) for k, p in r.files.items()}
    res = CliRunner().invoke(vvtvctl, ["usage", "rollup", "--day", traffic["day"], "--root",
                                       str(lab.root), "--billing-url", "", "--json"])
    assert res.exit_code == 0, res.output
    assert {k: sha(p) for k, p in r.files.items()} == before


def test_the_month_report_matches_the_quota_counters(lab: ApiLab,
                                                     traffic: dict[str, Any],
                                                     clock: FakeClock) -> None:
    month = traffic["day"][:7]
    totals = month_report(lab.root, month, today=clock.now().date())
    for who in ("a", "b"):
        tid = traffic[who].tenant_id
        keys, _ = lab.gateway._quota_keys(tid)
        used = lab.gateway.limits.reserve(keys, [0, 0], [10**15, 10**15], [0, 0], 60_000).used
        assert (totals[tid].billable_requests, totals[tid].billable_tokens) == tuple(used)


def test_v1_usage_answers_from_the_same_data(lab: ApiLab, traffic: dict[str, Any]) -> None:
    day = traffic["day"]
    a: Client = traffic["a"]
    r = lab.call(a, "GET", f"/v1/usage?from={day}&to={day}")
    assert r.status_code == 200, r.text
    body = r.json()
    row = next(t for t in rollup_day(lab.root, day).tenants if t.tenant_id == a.tenant_id)
    assert body["by_route"]["/v1/infer"]["requests"] == row.requests
    assert body["by_route"]["/v1/infer"]["tokens_in"] == row.tokens_in
    assert body["by_route"]["/v1/infer"]["errors_by_code"] == {"422": 3}


def test_bad_days_and_months_are_usage_errors(lab: ApiLab) -> None:
    run = CliRunner().invoke
    assert run(vvtvctl, ["usage", "rollup", "--day", "2026-13-01", "--root",
                         str(lab.root)]).exit_code == 2
    assert run(vvtvctl, ["usage", "month", "--month", "May", "--root",
                         str(lab.root)]).exit_code == 2


# -- the webhook -------------------------------------------------------------------------------
def test_signature_round_trip_and_refusals() -> None:
    body, secret, now = b'{"x":1}', b"s" * 32, 1_800_000_000
    header = billing.sign(secret, now, body)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert billing.verify(secret, header, body, now_s=now + 10) == now
    for bad_header, bad_body, at in ((header, body, now + 301), (header, b'{"x":2}', now),
                                     (billing.sign(b"other", now, body), body, now),
                                     ("", body, now), ("v1=abc", body, now)):
        with pytest.raises(billing.SignatureRefused):
            billing.verify(secret, bad_header, bad_body, now_s=at)


def test_backoff_is_exponential_with_full_jitter() -> None:
    import random

    s = BillingSettings(backoff_base_s=0.5, backoff_cap_s=4)
    rng = random.Random(7)
    waits = [[billing.backoff_s(n, s, rng) for _ in range(200)] for n in range(6)]
    assert all(0 <= w <= min(4, 0.5 * 2 ** n) for n, ws in enumerate(waits) for w in ws)
    assert max(waits[3]) > 2.0 and len({round(w, 6) for w in waits[3]}) > 150


class ReceiverProc:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "vvtvlib.cli.vvtvctl", "usage",
                                      "receiver", "--port", str(self.port), "--root",
                                      str(self.root)])
        for _ in range(400):
            try:
                httpx.get(self.url + billing.PATH, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the receiver did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def rows(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.url + billing.PATH, timeout=10).json())


@pytest.fixture
def receiver(lab: ApiLab) -> Iterator[ReceiverProc]:
    rec = ReceiverProc(lab.root, free_port())
    rec.start()
    yield rec
    if rec.proc is not None and rec.proc.poll() is None:
        rec.kill()


def rows_for(n: int, day: str = "2026-11-29") -> list[TenantDay]:
    return [TenantDay(day, f"t_bill{i}", 10 + i, 1, {"422": 1}, 100, 200, 1000, 2000, 3.0,
                      9.0, 9 + i, 300) for i in range(n)]


def test_killing_the_receiver_mid_delivery_loses_nothing_and_bills_nothing_twice(
        lab: ApiLab, receiver: ReceiverProc) -> None:
    rows = rows_for(6)
    # up to about 30 s of retries: room for a slow restart on a loaded machine
    settings = BillingSettings(max_attempts=60, backoff_base_s=0.05, backoff_cap_s=1.0)
    restarted = threading.Event()

    def on_delivered(d: billing.Delivery) -> None:
        if d.tenant_id == "t_bill1":  # two delivered: kill it, bring it back a second later
            receiver.kill()

            def back() -> None:
                time.sleep(1.0)
                receiver.start()
                restarted.set()
            threading.Thread(target=back, daemon=True).start()

    out = billing.deliver(lab.root, rows, receiver.url, settings=settings,
                          on_delivered=on_delivered)
    assert restarted.wait(30)  # start() returns as the receiver serves: set() may trail it
    assert [d.outcome for d in out] == ["stored"] * 6, out
    assert out[2].attempts > 1  # the one sent while the receiver was down was retried
    stored = receiver.rows()
    assert Counter(r["idempotency_key"] for r in stored) == Counter(
        f"usage:t_bill{i}:2026-11-29" for i in range(6))
    again = billing.deliver(lab.root, rows, receiver.url, settings=settings)
    assert [d.outcome for d in again] == ["duplicate"] * 6
    assert len(receiver.rows()) == 6
    body = stored[0]["body"]
    assert body["type"] == "usage.daily" and body["billable_requests"] == 9
    lay = ApiLayout(lab.root)
    lines = [json.loads(x) for x in lay.audit_log.read_text().splitlines()]
    attempts = [x for x in lines if x.get("event") == "webhook_delivery"
                and x.get("day") == "2026-11-29"]
    assert len(attempts) == sum(d.attempts for d in out) + 6
    assert any(x["outcome"] == "retry" and x["error"] for x in attempts)
    assert verify_chain(lay.audit_log).ok


def test_the_receiver_refuses_stale_and_forged_deliveries(lab: ApiLab,
                                                          receiver: ReceiverProc) -> None:
    secret = billing.billing_secret(lab.root)
    body = billing.body_for(rows_for(1, "2026-11-01")[0])
    url = receiver.url + billing.PATH
    stale = billing.sign(secret, int(time.time()) - 600, body)
    forged = billing.sign(b"not the secret", int(time.time()), body)
    for header in (stale, forged, ""):
        r = httpx.post(url, content=body, headers={billing.SIGNATURE_HEADER: header,
                                                   billing.IDEMPOTENCY_HEADER: "k1"})
        assert r.status_code == 400 and r.json()["error"] == "SIGNATURE_REFUSED"
    assert not [x for x in receiver.rows() if x["idempotency_key"] == "k1"]
