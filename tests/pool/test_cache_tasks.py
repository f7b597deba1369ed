"""The cache (isolation, TTL, bound) and the tasks' schemas, prompts and deadlines."""

from __future__ import annotations

import json

import pytest

from vvtvlib.core.clock import FakeClock
from vvtvlib.pool.cache import AnswerCache, cache_key
from vvtvlib.pool.emulator.content import agrees, content_for, parse_prompt
from vvtvlib.pool.errors import SchemaInvalid
from vvtvlib.pool.tasks import (
    DEADLINES,
    TASKS,
    build_messages,
    build_prompt,
    check_content,
    deadline_ms,
    schema_files,
    validate_payload,
)

CANDS = [{"id": f"v{i}", "text": f"video {i} about jazz"} for i in range(10)]
PAYLOADS = {
    "expand_queries": {"seed": "jazz documentary", "max_queries": 4},
    "judge": {"query": "best jazz film", "candidates": CANDS},
    "rerank_candidates": {"query": "jazz", "candidates": CANDS, "top_k": 5},
    "enrich_metadata": {"title": "Kind of Blue at 60", "duration_sec": 3600},
    "recovery_plan": {"incident": "encoder stalled", "service": "encoder",
                      "symptoms": ["no segments"]},
}


def test_cache_is_keyed_by_tenant_and_never_crosses_tenants() -> None:
    cache = AnswerCache(60, 10, FakeClock())
    k_a = cache_key("t_a", "judge", "FASTEST", {"x": 1})
    k_b = cache_key("t_b", "judge", "FASTEST", {"x": 1})
    assert k_a != k_b
    cache.put(k_a, "t_a", {"secret": "a"}, "m")
    assert cache.get(k_a, "t_a") is not None
    assert cache.get(k_b, "t_b") is None
    assert cache.get(k_a, "t_b") is None, "even the same key is not served to another tenant"


def test_cache_key_uses_the_canonical_payload_and_the_strategy() -> None:
    assert cache_key("t", "judge", "FASTEST", {"a": 1, "b": 2}) == \
        cache_key("t", "judge", "FASTEST", {"b": 2, "a": 1})
    assert cache_key("t", "judge", "FASTEST", {"a": 1}) != cache_key("t", "judge", "VOTING",
                                                                      {"a": 1})


def test_cache_entries_expire_and_the_size_is_bounded() -> None:
    clock = FakeClock()
    cache = AnswerCache(10, 3, clock)
    for i in range(5):
        cache.put(str(i), "t", {"i": i}, "m")
    assert len(cache) == 3 and cache.get("0", "t") is None and cache.get("4", "t") is not None
    clock.advance(10)
    assert cache.get("4", "t") is None


@pytest.mark.parametrize("task", TASKS)
def test_every_task_has_schemas_and_emulated_content_satisfies_them(task: str) -> None:
    validate_payload(task, PAYLOADS[task])
    for model in ("a", "b", "c"):
        assert check_content(task, PAYLOADS[task], content_for(model, task,
                                                               PAYLOADS[task])) is None
    assert len(schema_files()) == 2 * len(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_the_prompt_carries_task_and_payload_back_to_a_model(task: str) -> None:
    messages = build_messages(task, PAYLOADS[task])
    assert "SCHEMA:" in messages[0]["content"]
    assert parse_prompt(messages[1]["content"]) == (task, PAYLOADS[task])
    assert parse_prompt(build_prompt(task, PAYLOADS[task])) == (task, PAYLOADS[task])


def test_payloads_with_extra_or_missing_fields_are_refused() -> None:
    with pytest.raises(SchemaInvalid):
        validate_payload("expand_queries", {"seed": "abc", "extra": 1})
    with pytest.raises(SchemaInvalid):
        validate_payload("judge", {"query": "q"})
    with pytest.raises(SchemaInvalid, match="unknown task"):
        validate_payload("summarize", {})


def test_deadline_default_and_cap_per_task() -> None:
    d = DEADLINES["expand_queries"]
    assert deadline_ms("expand_queries", None) == d.default_ms
    assert deadline_ms("expand_queries", 10**9) == d.cap_ms
    assert deadline_ms("expand_queries", 300) == 300
    with pytest.raises(SchemaInvalid):
        deadline_ms("expand_queries", 0)


def test_models_agree_on_some_inputs_and_disagree_on_others() -> None:
    verdicts = []
    for i in range(30):
        p = {"seed": f"topic {i}"}
        same = content_for("a", "expand_queries", p) == content_for("b", "expand_queries", p)
        assert same == agrees("expand_queries", p)
        verdicts.append(same)
    assert any(verdicts) and not all(verdicts)
    assert json.dumps(content_for("a", "judge", PAYLOADS["judge"])) == \
        json.dumps(content_for("a", "judge", PAYLOADS["judge"])), "deterministic"


def test_schemas_are_copied_for_the_api(tmp_path: object) -> None:
    from pathlib import Path

    from vvtvlib.pool.tasks import copy_schemas

    written = copy_schemas(Path(str(tmp_path)) / "api" / "schemas")
    assert sorted(p.name for p in written) == sorted(p.name for p in schema_files())
    assert all(json.loads(p.read_text())["additionalProperties"] is False for p in written)
