"""Deterministic answers from (model, task, payload) that satisfy each task's schema.

On about two inputs in three every model gives the same answer (it depends on task and
payload only); on the rest each model answers differently. VOTING and JUDGE need both.
``agrees(task, payload)`` says which case an input falls in.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

from ..tokens import canonical_json

_WORDS = ("news", "live", "documentary", "archive", "music", "concert", "interview", "series",
          "film", "sports", "weather", "culture", "travel", "science", "history", "kids")
_SITES = ("archive.org", "vimeo.com", "wikimedia.org", "youtube.com", "dailymotion.com")


def _rng(*parts: str) -> random.Random:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def agrees(task: str, payload: dict[str, Any]) -> bool:
    digest = hashlib.sha256(f"{task}\x00{canonical_json(payload)}".encode()).digest()
    return digest[0] % 3 != 0


def _words(payload: dict[str, Any]) -> list[str]:
    found = re.findall(r"[a-z]{3,}", canonical_json(payload).lower())
    skip = {"seed", "query", "candidates", "text", "title", "incident", "service", "symptoms",
            "description", "language", "criteria"}
    return [w for w in dict.fromkeys(found) if w not in skip][:8] or ["vvtv"]


def content_for(model: str, task: str, payload: dict[str, Any]) -> dict[str, Any]:
    key = canonical_json(payload)
    rng = _rng(task, key) if agrees(task, payload) else _rng(model, task, key)
    words = _words(payload)
    if task == "expand_queries":
        base = rng.sample(words, k=min(len(words), 2))
        lo = rng.choice((300, 540, 900, 1200))
        n = int(payload.get("max_queries", 3))
        return {"must_include": base,
                "optional": [f"{rng.choice(words)} {w}" for w in rng.sample(_WORDS, k=min(n, 4))],
                "negatives": rng.sample(("trailer", "reaction", "shorts", "clip"),
                                        k=rng.randint(0, 2)),
                "duration_range_sec": [lo, lo + rng.choice((180, 300, 600))],
                "site_hints": rng.sample(_SITES, k=2)}
    if task in ("judge", "rerank_candidates"):
        ids = [c["id"] for c in payload["candidates"]]
        scores = {i: round(rng.random(), 3) for i in ids}
        ranked = sorted(ids, key=lambda i: (-scores[i], i))
        if task == "rerank_candidates":
            return {"ranking": [{"id": i, "score": scores[i]} for i in ranked]}
        return {"winner_id": ranked[0], "scores": [{"id": i, "score": scores[i]} for i in ids],
                "reason": f"{ranked[0]} matches {words[0]} best"}
    if task == "enrich_metadata":
        return {"genre": rng.choice(_WORDS), "tags": rng.sample(words, k=min(len(words), 3)),
                "language": rng.choice(("en", "pt", "es")),
                "mood": rng.choice(("calm", "upbeat", "dark", "neutral", "epic")),
                "summary": f"A {rng.choice(_WORDS)} programme about {' '.join(words[:3])}."}
    if task == "recovery_plan":
        svc = payload.get("service", "station")
        return {"severity": rng.choice(("low", "medium", "high", "critical")),
                "steps": [f"vvtvctl status --root /vvtv  # inspect {svc}",
                          f"restart {svc} after checking {rng.choice(words)}",
                          "verify the live playlist serves segments"][:rng.randint(1, 3)],
                "rollback": [f"restore the last snapshot of {svc}"][:rng.randint(0, 1)],
                "eta_minutes": rng.choice((5, 10, 15, 30, 60))}
    return {"error": f"unknown task {task}"}


def parse_prompt(text: str) -> tuple[str, dict[str, Any]] | None:
    """The task and payload the pool's prompt carries (last ``TASK:``/``PAYLOAD:`` lines)."""
    import json

    tasks = re.findall(r"^TASK: ([a-z_]+)$", text, re.MULTILINE)
    payloads = re.findall(r"^PAYLOAD: (.*)$", text, re.MULTILINE)
    if not tasks or not payloads:
        return None
    try:
        payload = json.loads(payloads[-1])
    except ValueError:
        return None
    return (tasks[-1], payload) if isinstance(payload, dict) else None


def messy(rng: random.Random, text: str, content: dict[str, Any]) -> str:
    """One of the ways real models spoil JSON: fences, prose, a missing or an extra field."""
    import json

    kind = rng.choice(("fence", "prose", "missing", "extra"))
    if kind == "fence":
        return f"```json\n{text}\n```"
    if kind == "prose":
        return f"Sure! Here is the JSON you asked for:\n{text}\nLet me know if you need more."
    broken = dict(content)
    if kind == "missing" and broken:
        broken.pop(sorted(broken)[0])
    else:
        broken["note"] = "added by the model"
    return json.dumps(broken)
