from __future__ import annotations

import io
import json

from vvtvlib.core.clock import FakeClock, stamp
from vvtvlib.core.log import get_logger


def test_logger_writes_the_lab_fields_and_redacts_secrets() -> None:
    buf = io.StringIO()
    get_logger("ritual", stream=buf).info("frozen", step="freeze", hmac_secret="s3cr3t")
    line = json.loads(buf.getvalue())
    assert {"ts", "service", "severity", "msg", "trace_id", "span_id"} <= set(line)
    assert line["service"] == "ritual" and line["severity"] == "INFO" and line["msg"] == "frozen"
    assert line["step"] == "freeze" and line["hmac_secret"] == "[redacted]"
    assert "s3cr3t" not in buf.getvalue()


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    t0 = clock.now()
    clock.sleep(900)
    assert (clock.now() - t0).total_seconds() == 900
    assert stamp(t0) == "2026-01-01_0000Z"
