"""The pool's answer cache: keyed by tenant + task + strategy + canonical payload, with a TTL
and a size bound (least recently used goes first). An entry remembers its tenant and is
returned only to it, so one tenant never sees another's content, even on a key collision."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock

from .tokens import canonical_json


@dataclass(frozen=True)
class CacheEntry:
    tenant_id: str
    content: dict[str, Any]
    winner_model: str
    stored_at: float


def cache_key(tenant_id: str, task: str, strategy: str, payload: dict[str, Any]) -> str:
    raw = "\x00".join((tenant_id, task, strategy, canonical_json(payload)))
    return hashlib.sha256(raw.encode()).hexdigest()


class AnswerCache:
    def __init__(self, ttl_s: float, max_entries: int, clock: Clock = SYSTEM_CLOCK) -> None:
        self.ttl_s, self.max_entries, self.clock = ttl_s, max_entries, clock
        self._data: OrderedDict[str, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = 0

    def get(self, key: str, tenant_id: str) -> CacheEntry | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None or entry.tenant_id != tenant_id:
                self.misses += 1
                return None
            if self.clock.monotonic() - entry.stored_at >= self.ttl_s:
                del self._data[key]
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: str, tenant_id: str, content: dict[str, Any], winner_model: str) -> None:
        if self.max_entries <= 0 or self.ttl_s <= 0:
            return
        with self._lock:
            self._data[key] = CacheEntry(tenant_id, content, winner_model, self.clock.monotonic())
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
                self.evictions += 1

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
