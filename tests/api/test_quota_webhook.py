"""Quota warnings reach the billing webhook: once per tenant, month and level, signed, off
the request path, every attempt in the audit chain."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vvtvlib.api.billing import Receiver, billing_secret, receiver_app
from vvtvlib.api.config import ApiConfig, BillingSettings, Plan
from vvtvlib.api.lab import ApiLab, ServerThread, infer_body
from vvtvlib.core.clock import FakeClock
from vvtvlib.pool.emulator import EmulatorProcess
from vvtvlib.pool.emulator.process import free_port

PLANS = {name: Plan(rpm=60000, burst=1000, requests_month=10, tokens_month=10**9)
         for name in ("free", "pro", "enterprise")}


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory, duo: list[EmulatorProcess],
           clock: FakeClock) -> Iterator[tuple[ApiLab, Receiver]]:
    root = tmp_path_factory.mktemp("qhook")
    rec = Receiver(root / "received.sqlite", billing_secret(root))  # the lab's own secret
    srv = ServerThread(receiver_app(rec), free_port())
    srv.start()
    cfg = ApiConfig(plans=PLANS, billing=BillingSettings(
        url=f"http://127.0.0.1:{srv.port}", max_attempts=3, backoff_base_s=0.01))
    try:
        with ApiLab(root, clock=clock, emulators=duo, config=cfg) as lab:
            yield lab, rec
    finally:
        srv.stop()


def _wait(cond: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s  # the events are sent from a thread
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)


def audit_lines(lab: ApiLab) -> list[dict[str, object]]:
    lab.gateway.audit.flush()
    return [json.loads(x) for x in Path(lab.gateway.layout.audit_log).read_text().splitlines()]


def test_each_warning_level_is_one_signed_event(hooked: tuple[ApiLab, Receiver]) -> None:
    lab, rec = hooked
    t = lab.tenant("Hooked", plan="free")
    warnings = [lab.call(t, "POST", "/v1/infer", infer_body(f"w {i}")).headers.get(
        "x-quota-warning") for i in range(10)]
    assert warnings.count("80%") == 1 and warnings.count("90%") == 2
    assert lab.call(t, "POST", "/v1/infer", infer_body("over")).status_code == 402

    def mine() -> list[dict[str, Any]]:
        return [r for r in rec.rows() if r["tenant_id"] == t.tenant_id]
    _wait(lambda: len(mine()) >= 2 and not lab.gateway.quota_events.pending())
    month = lab.clock.now().strftime("%Y-%m")
    rows = mine()
    assert [r["idempotency_key"] for r in rows] == [f"quota:{t.tenant_id}:{month}:80",
                                                    f"quota:{t.tenant_id}:{month}:90"]
    assert [(r["body"]["type"], r["body"]["level"]) for r in rows] == [
        ("quota.warning", 80), ("quota.warning", 90)]
    assert rows[0]["body"]["used"] == 0.8 and rows[1]["body"]["request_id"]
    lines = [x for x in audit_lines(lab) if x.get("event") == "webhook_delivery"
             and x.get("tenant_id") == t.tenant_id]
    assert [(x["actor"], x["level"], x["outcome"]) for x in lines] == [
        ("pool-api", 80, "stored"), ("pool-api", 90, "stored")]
    assert all("v1=" not in json.dumps(x) for x in lines)  # never the signature


def test_a_refused_delivery_is_audited_and_not_retried(hooked: tuple[ApiLab, Receiver]
                                                       ) -> None:
    lab, rec = hooked
    good = rec.secret
    rec.secret = b"another secret"  # the receiver refuses the signature: 400, final
    try:
        t = lab.tenant("Refused", plan="free")
        for i in range(8):
            assert lab.call(t, "POST", "/v1/infer", infer_body(f"r {i}")).status_code == 200

        def audited() -> list[dict[str, object]]:
            return [x for x in audit_lines(lab) if x.get("event") == "webhook_delivery"
                    and x.get("tenant_id") == t.tenant_id]
        _wait(lambda: len(audited()) >= 1)
        assert [(x["attempt"], x["status"], x["outcome"]) for x in audited()] == [
            (1, 400, "failed")]
        assert not [r for r in rec.rows() if r["tenant_id"] == t.tenant_id]
    finally:
        rec.secret = good
