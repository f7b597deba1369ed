"""The provider emulator as a real server: both APIs, streaming, token counts, faults."""

from __future__ import annotations

import json

import httpx
import pytest

from vvtvlib.pool.emulator import EmulatorProcess, parse_latency
from vvtvlib.pool.emulator.app import EmulatorSettings
from vvtvlib.pool.tasks import build_messages, build_prompt
from vvtvlib.pool.tokens import count_tokens

PAYLOAD = {"seed": "jazz"}


def test_tags_chat_generate_and_openai(trio: list[EmulatorProcess]) -> None:
    em = trio[0]
    tags = httpx.get(f"{em.base_url}/api/tags").json()
    assert tags["models"][0]["name"] == "fast"
    messages = build_messages("expand_queries", PAYLOAD)
    chat = httpx.post(f"{em.base_url}/api/chat", json={
        "model": "fast", "messages": messages, "format": "json", "stream": False}).json()
    text = chat["message"]["content"]
    assert chat["done"] and chat["eval_count"] == count_tokens(text)
    assert chat["prompt_eval_count"] == count_tokens("\n\n".join(m["content"] for m in messages))
    gen = httpx.post(f"{em.base_url}/api/generate", json={
        "model": "fast", "prompt": build_prompt("expand_queries", PAYLOAD), "format": "json",
        "stream": False}).json()
    assert json.loads(gen["response"]) == json.loads(text)
    oa = httpx.post(f"{em.base_url}/v1/chat/completions", json={
        "model": "fast", "messages": messages}).json()
    assert json.loads(oa["choices"][0]["message"]["content"]) == json.loads(text)
    assert oa["usage"]["completion_tokens"] == count_tokens(text)


def test_streaming_ndjson_reassembles_the_answer(trio: list[EmulatorProcess]) -> None:
    em = trio[0]
    with httpx.stream("POST", f"{em.base_url}/api/chat", json={
            "model": "fast", "messages": build_messages("expand_queries", PAYLOAD)}) as resp:
        lines = [json.loads(line) for line in resp.iter_lines() if line]
    assert len(lines) > 2 and not lines[0]["done"] and lines[-1]["done"]
    text = "".join(line["message"]["content"] for line in lines)
    assert json.loads(text)["must_include"] and lines[-1]["eval_count"] == count_tokens(text)


def test_fault_endpoint_down_errors_and_reset(trio: list[EmulatorProcess]) -> None:
    em = trio[1]
    body = {"model": "medium", "messages": build_messages("expand_queries", PAYLOAD),
            "stream": False}
    try:
        assert em.faults(down=True)["down"] is True
        assert httpx.post(f"{em.base_url}/api/chat", json=body).status_code == 503
        em.faults(down=False, error_rate=1.0)
        assert httpx.post(f"{em.base_url}/api/chat", json=body).status_code == 500
    finally:
        em.clear_faults()
    assert httpx.post(f"{em.base_url}/api/chat", json=body).status_code == 200


def test_hang_never_answers(trio: list[EmulatorProcess]) -> None:
    em = trio[2]
    try:
        em.faults(hang=True)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{em.base_url}/api/chat", timeout=0.3, json={
                "messages": build_messages("expand_queries", PAYLOAD), "stream": False})
    finally:
        em.clear_faults()


def test_messy_output_rate_and_latency_profile() -> None:
    import random

    s = EmulatorSettings("m", 100, 300)
    rng = random.Random(1)
    samples = sorted(s.sample_latency_ms(rng) for _ in range(4000))
    assert 85 < samples[2000] < 115 and 240 < samples[3800] < 360
    assert parse_latency("300:900") == (300, 900) and parse_latency("5") == (5, 5)
    with pytest.raises(ValueError):
        parse_latency("900:300")


def test_messy_emulator_produces_recoverable_and_broken_answers(emulators) -> None:  # type: ignore
    (em,) = emulators([("messy", "0")], messy_rate=1.0)
    from vvtvlib.pool.sanitize import InvalidOutput, sanitize

    ok = bad = 0
    for i in range(20):
        payload = {"seed": f"m{i}"}
        text = httpx.post(f"{em.base_url}/api/chat", json={
            "messages": build_messages("expand_queries", payload), "stream": False}
        ).json()["message"]["content"]
        try:
            sanitize("expand_queries", payload, text)
            ok += 1
        except InvalidOutput:
            bad += 1
    assert ok and bad


def test_openai_streaming_sends_server_sent_events(trio: list[EmulatorProcess]) -> None:
    em = trio[0]
    with httpx.stream("POST", f"{em.base_url}/v1/chat/completions", json={
            "model": "fast", "stream": True,
            "messages": build_messages("expand_queries", PAYLOAD)}) as resp:
        events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert json.loads(text)["must_include"]
    assert chunks[-1]["usage"]["completion_tokens"] == count_tokens(text)
