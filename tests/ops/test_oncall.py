"""On-call: the rota file, who is on shift, the escalation timeline and the receiver."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import ConfigError
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.oncall.escalation import load_policy, simulate
from vvtvlib.ops.oncall.receiver import Receiver, make_server
from vvtvlib.ops.oncall.rota import TEAMS, Rota, build_rota

ROTA = REPO / "ops" / "oncall" / "rota.ics"
POLICY = REPO / "ops" / "oncall" / "escalation.yaml"
MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SUNDAY_0230 = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)


def test_the_rota_file_is_the_built_calendar() -> None:
    assert ROTA.read_bytes() == build_rota().to_ical()


def test_weekly_shifts_rotate() -> None:
    rota = Rota.load(ROTA)
    people = [rota.who(1, MONDAY_10 + timedelta(weeks=k)) for k in range(6)]
    assert set(people) == set(TEAMS[1])
    assert people[:3] == people[3:]
    assert rota.who(2, MONDAY_10) != rota.who(2, MONDAY_10 + timedelta(weeks=1))


def test_business_hours_page_every_level_by_the_timeouts() -> None:
    tl = simulate(load_policy(POLICY), Rota.load(ROTA), "ApiErrorRateHigh", MONDAY_10)
    assert [(p.minute, p.level, p.paged) for p in tl.pages] == [
        (0, 1, True), (5, 2, True), (15, 3, True), (35, 1, True), (35, 2, True),
        (35, 3, True)]


def test_night_pages_only_l1_and_ack_stops_the_escalation() -> None:
    policy, rota = load_policy(POLICY), Rota.load(ROTA)
    night = simulate(policy, rota, "StreamSegmentAgeHigh", SUNDAY_0230)
    assert [p.level for p in night.pages if p.paged] == [1, 1]
    assert all("off hours" in p.note for p in night.pages if not p.paged)
    acked = simulate(policy, rota, "X", MONDAY_10, ack_after_min=12)
    assert [p.level for p in acked.pages] == [1, 2]
    assert acked.acknowledged_at == "2026-12-07T10:12Z"


def test_a_bad_policy_is_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "escalation.yaml"
    bad.write_text("levels: []\ntimeouts_min: [5, 10]\n")
    with pytest.raises(ConfigError, match="escalation.yaml"):
        load_policy(bad)


def test_receiver_pages_over_http_and_escalates_with_the_clock(tmp_path: Path) -> None:
    clock = FakeClock(start=MONDAY_10)
    recv = Receiver(load_policy(POLICY), Rota.load(ROTA), tmp_path, clock=clock)
    server = make_server(recv, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        body = {"version": "4", "status": "firing", "alerts": [
            {"status": "firing", "fingerprint": "abc",
             "labels": {"alertname": "PoolP95High", "severity": "major"}}]}
        assert httpx.post(base + "/", json=body).json()["started"] == ["PoolP95High"]
        httpx.post(base + "/", json=body)  # Alertmanager repeats: no second escalation
        clock.advance(6 * 60)
        recv.tick()
        pages = httpx.get(base + "/pages").json()
        assert [(p["level"], p["paged"]) for p in pages] == [(1, True), (2, True)]
        # when Alertmanager's webhook arrived, to the millisecond (the game days time pages)
        assert {p["received"] for p in pages} == {"2026-12-07T10:00:00.000Z"}
        # the alert's labels, so a game day counts pages per incident (per provider)
        assert all(p["labels"] == {"alertname": "PoolP95High", "severity": "major"}
                   for p in pages)
        resolved = {"version": "4", "status": "resolved", "alerts": [
            {**body["alerts"][0], "status": "resolved"}]}
        httpx.post(base + "/", json=resolved)
        clock.advance(30)
        assert httpx.post(base + "/", json=body).json()["started"] == ["PoolP95High"]
        pages = httpx.get(base + "/pages").json()  # the first escalation's pages are kept
        assert [(p["level"], p["received"]) for p in pages] == [
            (1, "2026-12-07T10:00:00.000Z"), (2, "2026-12-07T10:00:00.000Z"),
            (1, "2026-12-07T10:06:30.000Z")]
        assert httpx.post(base + "/ack/PoolP95High").json() == {"acknowledged": True}
        clock.advance(60 * 60)
        assert recv.tick() == []
        logged = [json.loads(x) for x in recv.log_path.read_text().splitlines()]
        assert [x["level"] for x in logged] == [1, 2, 1]
        assert {x["labels"]["alertname"] for x in logged} == {"PoolP95High"}
        assert httpx.post(base + "/", content=b"{}").status_code == 400
    finally:
        server.shutdown()
        server.server_close()


def test_a_minor_alert_opens_a_ticket_and_pages_no_one(tmp_path: Path) -> None:
    """Seed O3, no pager fatigue: a minor alert is for business hours; it never pages, not
    even after the escalation timeouts, and one firing is one ticket."""
    clock = FakeClock(start=SUNDAY_0230)
    recv = Receiver(load_policy(POLICY), Rota.load(ROTA), tmp_path, clock=clock)
    alert = {"status": "firing", "fingerprint": "cur",
             "labels": {"alertname": "CuratorApplyRateHigh", "severity": "minor",
                        "service": "planner"},
             "annotations": {"runbook_url": "ops/runbooks/rb_planner.md#curatorapplyratehigh",
                             "summary": "The curator applies more than 20 %"}}
    body = {"version": "4", "status": "firing", "alerts": [alert]}
    assert recv.webhook(body)["started"] == []
    recv.webhook(body)  # Alertmanager repeats
    clock.advance(2 * 60 * 60)
    assert recv.tick() == [] and recv.pages() == [] and not recv.log_path.exists()
    tickets = recv.tickets()
    assert [(t["alert"], t["severity"], t["service"]) for t in tickets] == [
        ("CuratorApplyRateHigh", "minor", "planner")]
    assert tickets[0]["runbook_url"].endswith("#curatorapplyratehigh")
    recv.webhook({"version": "4", "status": "resolved",
                  "alerts": [{**alert, "status": "resolved"}]})
    recv.webhook(body)  # fired again after it resolved: a second ticket
    lines = [json.loads(x) for x in recv.tickets_path.read_text().splitlines()]
    assert len(lines) == 2 and recv.pages() == []
    # a major alert still pages L1 at once
    recv.webhook({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "fingerprint": "p", "labels": {"alertname": "PoolProviderDown",
                                                            "severity": "major"}}]})
    assert [p["level"] for p in recv.pages()] == [1]


def test_the_receiver_command_records_pages(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    from tests.station.helpers import eventually

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "vvtvlib.cli.vvtvctl", "oncall", "receiver",
                             "--port", str(port), "--dir", str(tmp_path)],
                            cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(base + "/healthz").status_code == 200
            except httpx.HTTPError:
                return False
        eventually(up, timeout_s=20)
        body = {"version": "4", "status": "firing", "alerts": [
            {"status": "firing", "labels": {"alertname": "StreamSegmentAgeHigh",
                                            "severity": "critical"}}]}
        assert httpx.post(base + "/", json=body).status_code == 200
        pages = httpx.get(base + "/pages").json()
        assert pages[0]["level"] == 1 and pages[0]["alert"] == "StreamSegmentAgeHigh"
        line = json.loads((tmp_path / "pages.jsonl").read_text().splitlines()[0])
        assert line["severity"] == "critical" and line["person"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_receiver_announces_itself_for_obs_up_and_withdraws_on_exit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`oncall receiver --root R --port 0` writes R/oncall/receiver.json with the port it
    bound; `obs up --root R` routes there (default_receiver_url); SIGTERM removes it."""
    import os
    import subprocess
    import sys

    from tests.station.helpers import eventually
    from vvtvlib.ops.obs import default_receiver_url
    from vvtvlib.ops.oncall.receiver import Announcement

    monkeypatch.delenv("VVTV_ONCALL_RECEIVER", raising=False)
    proc = subprocess.Popen([sys.executable, "-m", "vvtvlib.cli.vvtvctl", "oncall", "receiver",
                             "--port", "0", "--root", str(tmp_path)],
                            cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    announced = tmp_path / "oncall" / "receiver.json"
    try:
        eventually(announced.exists, timeout_s=20)
        ann = Announcement.read(tmp_path / "oncall")
        assert ann is not None and ann.pid == proc.pid and not ann.url.endswith(":0/")
        assert httpx.get(ann.url + "healthz").json()["ok"] is True
        assert default_receiver_url(tmp_path) == ann.url
        assert not list(announced.parent.glob(".*.tmp")), "written atomically"
    finally:
        proc.terminate()
        rc = proc.wait(10)
    assert rc == 0, proc.stderr.read() if proc.stderr else ""
    assert not announced.exists(), "a clean exit withdraws the announcement"
    assert default_receiver_url(tmp_path) == "http://127.0.0.1:9095/"


def test_an_announcement_left_by_a_dead_receiver_is_ignored(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    import subprocess

    from vvtvlib.ops.obs import default_receiver_url

    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "oncall").mkdir()
    (tmp_path / "oncall" / "receiver.json").write_text(json.dumps(
        {"url": "http://127.0.0.1:1/", "pid": gone.pid, "started_utc": "", "pages": ""}))
    monkeypatch.setenv("VVTV_ONCALL_RECEIVER", "http://127.0.0.1:9999/")
    assert default_receiver_url(tmp_path) == "http://127.0.0.1:9999/"
    (tmp_path / "oncall" / "receiver.json").write_text("{not json")
    assert default_receiver_url(tmp_path) == "http://127.0.0.1:9999/"
