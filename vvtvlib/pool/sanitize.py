"""Strict sanitization of model output: extract one JSON object, bound it, validate it.

Models wrap JSON in code fences or prose, drop or invent fields, and repeat instructions
hidden in the payload. ``sanitize`` accepts only an object that satisfies the task's content
schema exactly (no extra fields, bounded strings and lists, shallow nesting); anything else
raises ``InvalidOutput``, which the pool counts as that provider's failure.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .tasks import check_content

MAX_TEXT_CHARS = 256 * 1024
MAX_DEPTH = 16
MAX_DECODE_ATTEMPTS = 32
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)


class InvalidOutput(ValueError):
    """The model's text holds no acceptable answer; ``reason`` says why (no content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (bare, fenced or inside prose)."""
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidOutput(f"output of {len(text)} characters exceeds {MAX_TEXT_CHARS}")
    stripped = text.strip()
    if stripped[:1] in ("[", '"') or stripped[:1].isdigit():
        whole = _loads(stripped)
        if whole is not None:
            raise InvalidOutput(f"the output is a JSON {type(whole).__name__}, not an object")
    candidates = [stripped]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(stripped)]
    for cand in candidates:
        if cand.startswith("{"):
            value = _loads(cand)
            if isinstance(value, dict):
                return value
    decoder = json.JSONDecoder()
    start, attempts = stripped.find("{"), 0
    while start != -1 and attempts < MAX_DECODE_ATTEMPTS:
        attempts += 1
        try:
            value, _ = decoder.raw_decode(stripped, start)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
        start = stripped.find("{", start + 1)
    raise InvalidOutput("no JSON object found in the output")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def depth(value: Any) -> int:
    """Nesting depth, computed without recursion (hostile input cannot blow the stack)."""
    if not isinstance(value, (dict, list)):
        return 0
    deepest, stack = 1, [(value, 1)]
    while stack:
        node, d = stack.pop()
        if d > deepest:
            deepest = d
        if d > MAX_DEPTH:
            return d
        for child in (node.values() if isinstance(node, dict) else node):
            if isinstance(child, (dict, list)):
                stack.append((child, d + 1))
    return deepest


def sanitize(task: str, payload: dict[str, Any], text: str) -> dict[str, Any]:
    """The validated content of ``text`` for ``task``; ``InvalidOutput`` otherwise."""
    value = extract_json(text)
    if depth(value) > MAX_DEPTH:
        raise InvalidOutput(f"output nests deeper than {MAX_DEPTH} levels")
    problem = check_content(task, payload, value)
    if problem:
        raise InvalidOutput(f"output does not satisfy the {task} schema: {problem}")
    return value
