"""Typed records crossing the pool's boundary: the request and the result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from .errors import SchemaInvalid


class Strategy(StrEnum):
    FASTEST = "FASTEST"
    VOTING = "VOTING"
    WEIGHTED = "WEIGHTED"
    JUDGE = "JUDGE"


def parse_strategy(name: str) -> Strategy:
    try:
        return Strategy(name.upper())
    except ValueError:
        raise SchemaInvalid(f"unknown strategy {name!r}; expected one of "
                            f"{', '.join(s.value for s in Strategy)}", actual=name) from None


@dataclass(frozen=True)
class InferRequest:
    task: str
    payload: dict[str, Any]
    strategy: str = "FASTEST"
    tenant_id: str = "local"
    deadline_ms: int | None = None  # hints.deadline_ms
    max_tokens: int | None = None  # hints.max_tokens


@dataclass
class InferResult:
    """The seed's response fields plus what the pool learned while answering."""

    winner_model: str
    strategy_used: str
    duration_ms: int
    from_cache: bool
    content: dict[str, Any]
    tokens_in: int = 0
    tokens_out: int = 0
    hedge: bool = False
    providers_tried: list[str] = field(default_factory=list)
    winner_provider: str = ""
    quorum: str | None = None  # VOTING: "majority" or "partial"
    votes: dict[str, int] | None = None  # VOTING: provider id -> answer group
    judge_model: str | None = None  # JUDGE: the model that chose
    deadline_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
