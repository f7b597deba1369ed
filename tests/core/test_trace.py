"""W3C traceparent: parse, make, continue; the core logger writes the current span."""

from __future__ import annotations

import io
import json

import pytest

from vvtvlib.core.log import get_logger
from vvtvlib.core.trace import continue_or_start, new_trace, parse_traceparent, use_trace

SPEC_EXAMPLE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_specification_example_parses_and_round_trips() -> None:
    ctx = parse_traceparent(SPEC_EXAMPLE)
    assert ctx is not None and ctx.sampled
    assert (ctx.trace_id, ctx.span_id) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert ctx.header() == SPEC_EXAMPLE


@pytest.mark.parametrize("bad", [
    None, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
])
def test_invalid_headers_are_ignored(bad: str | None) -> None:
    assert parse_traceparent(bad) is None


def test_a_future_version_may_carry_more_fields() -> None:
    assert parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")


def test_a_child_keeps_the_trace_and_changes_the_span() -> None:
    parent = parse_traceparent(SPEC_EXAMPLE)
    assert parent is not None
    child = continue_or_start(SPEC_EXAMPLE)
    assert child.trace_id == parent.trace_id and child.span_id != parent.span_id
    fresh = continue_or_start("nonsense")
    assert fresh.trace_id != parent.trace_id and len(fresh.header()) == 55


def test_the_logger_writes_the_current_span() -> None:
    stream = io.StringIO()
    log = get_logger("pool", stream=stream)
    ctx = new_trace()
    with use_trace(ctx):
        log.info("provider call", provider="phi3-mini")
    log.info("outside")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["trace_id"], inside["span_id"]) == (ctx.trace_id, ctx.span_id)
    assert set(inside) >= {"ts", "service", "severity", "msg", "trace_id", "span_id"}
    assert outside["trace_id"] != ctx.trace_id
