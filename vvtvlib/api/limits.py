"""Limits and nonces behind one storage interface, chosen by URI (``memory://``,
``sqlite://``, ``redis://``).

Every operation is one atomic check-and-consume: under a lock in memory, one Lua script (or
``SET NX PX``) on Redis with the time read inside the script from the server's clock, one
``BEGIN IMMEDIATE`` transaction or one upsert on SQLite (``limits_sqlite.py``: the workers of
one node), so no caller ever reads, decides and writes later. One contract test suite runs
against all three.

* ``take``: a token bucket (capacity, refill per second, cost) -> ``Decision``; with
  ``force`` the cost is taken even into debt (settling a reservation with the real count)
* ``once``: a key recorded for ``ttl_ms`` unless already present (nonces, once-a-day gates)
* ``reserve``: several counters raised together only if each stays within its limit
  (monthly quotas reserved at admission), seeded from the database when absent
* ``adjust``: add to a counter (settling a reservation with the real token count)
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import ConfigError, DependencyMissing

from .errors import LimitsUnavailable

EPS = 1e-9


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0  # time until ``cost`` tokens are back (0 when allowed)
    remaining: float = 0.0


@dataclass(frozen=True)
class Reservation:
    allowed: bool
    used: tuple[int, ...]  # each counter after the reservation (or as found, when refused)


class LimitStore(Protocol):
    uri: str

    def take(self, key: str, capacity: float, rate_per_s: float, cost: float,
             force: bool = False) -> Decision: ...
    def once(self, key: str, ttl_ms: int) -> bool: ...
    def reserve(self, keys: list[str], amounts: list[int], limits: list[int],
                seeds: list[int], ttl_ms: int) -> Reservation: ...
    def adjust(self, key: str, delta: int) -> None: ...
    def close(self) -> None: ...


def bucket_step(tokens: float, last: float, now: float, capacity: float, rate: float,
                cost: float, force: bool = False) -> tuple[float, Decision]:
    """The bucket math, shared by the memory backend and mirrored by the Lua script:
    refill since ``last`` (capped at capacity), then take ``cost`` if it is there (or
    anyway with ``force``: a negative cost gives tokens back, up to the capacity)."""
    tokens = min(capacity, tokens + max(0.0, now - last) * rate)
    if force:
        tokens = min(capacity, tokens - cost)
        return tokens, Decision(True, 0.0, tokens)
    if tokens + EPS >= cost:
        tokens -= cost
        return tokens, Decision(True, 0.0, tokens)
    wait = (cost - tokens) / rate if rate > 0 else math.inf
    return tokens, Decision(False, wait, tokens)


class MemoryStore:
    """One process: a lock and dicts; time from the injected clock."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.uri = "memory://"
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._expiring: dict[str, float] = {}
        self._counters: dict[str, int] = {}
        self._ops = 0

    def take(self, key: str, capacity: float, rate_per_s: float, cost: float,
             force: bool = False) -> Decision:
        with self._lock:
            now = self.clock.monotonic()
            tokens, last = self._buckets.get(key, (capacity, now))
            tokens, decision = bucket_step(tokens, last, now, capacity, rate_per_s, cost, force)
            self._buckets[key] = (tokens, now)
            return decision

    def once(self, key: str, ttl_ms: int) -> bool:
        with self._lock:
            now = self.clock.monotonic()
            self._ops += 1
            if self._ops % 4096 == 0:  # drop expired entries now and then
                self._expiring = {k: t for k, t in self._expiring.items() if t > now}
            until = self._expiring.get(key)
            if until is not None and until > now:
                return False
            self._expiring[key] = now + ttl_ms / 1000
            return True

    def reserve(self, keys: list[str], amounts: list[int], limits: list[int],
                seeds: list[int], ttl_ms: int) -> Reservation:
        with self._lock:
            current = [self._counters.setdefault(k, s) for k, s in zip(keys, seeds, strict=True)]
            if any(c + a > lim for c, a, lim in zip(current, amounts, limits, strict=True)):
                return Reservation(False, tuple(current))
            for k, a in zip(keys, amounts, strict=True):
                self._counters[k] += a
            return Reservation(True, tuple(self._counters[k] for k in keys))

    def adjust(self, key: str, delta: int) -> None:
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + delta

    def close(self) -> None:
        pass


TAKE_LUA = """
local cap = tonumber(ARGV[1]); local rate = tonumber(ARGV[2]); local cost = tonumber(ARGV[3])
local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]); local last = tonumber(b[2])
if tokens == nil then tokens = cap; last = now end
if now > last then tokens = tokens + (now - last) * rate end
if tokens > cap then tokens = cap end
local ok = 0; local wait = 0
if ARGV[4] == '1' then tokens = math.min(cap, tokens - cost); ok = 1
elseif tokens + 1e-9 >= cost then tokens = tokens - cost; ok = 1
elseif rate > 0 then wait = (cost - tokens) / rate else wait = -1 end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', now))
local ttl = 60000
if rate > 0 then ttl = math.ceil(cap / rate * 1000) + 1000 end
redis.call('PEXPIRE', KEYS[1], ttl)
return {ok, string.format('%.17g', wait), string.format('%.17g', tokens)}
"""

RESERVE_LUA = """
local n = #KEYS; local cur = {}
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if not v then redis.call('SET', KEYS[i], ARGV[2 * n + i], 'PX', ARGV[3 * n + 1]);
    v = ARGV[2 * n + i] end
  cur[i] = tonumber(v)
end
for i = 1, n do
  if cur[i] + tonumber(ARGV[i]) > tonumber(ARGV[n + i]) then return {0, unpack(cur)} end
end
for i = 1, n do cur[i] = redis.call('INCRBY', KEYS[i], ARGV[i]) end
return {1, unpack(cur)}
"""


class RedisStore:
    """Shared by every worker and node: one Lua script per decision."""

    def __init__(self, uri: str) -> None:
        import redis

        self.uri = uri
        self._r = redis.Redis.from_url(uri, socket_timeout=2, socket_connect_timeout=2)
        try:
            self._r.ping()
        except redis.RedisError as exc:
            raise DependencyMissing(f"the limits backend {uri} does not answer ({exc})"
                                    ) from None
        self._take = self._r.register_script(TAKE_LUA)
        self._reserve = self._r.register_script(RESERVE_LUA)

    def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return fn(*args, **kwargs)
        except redis.RedisError:
            raise LimitsUnavailable("the limits backend does not answer; retry later") from None

    def take(self, key: str, capacity: float, rate_per_s: float, cost: float,
             force: bool = False) -> Decision:
        ok, wait, tokens = self._run(self._take, keys=[key],
                                     args=[capacity, rate_per_s, cost, int(force)])
        w = float(wait)
        return Decision(bool(ok), math.inf if w < 0 else w, float(tokens))

    def once(self, key: str, ttl_ms: int) -> bool:
        return bool(self._run(self._r.set, key, b"1", nx=True, px=ttl_ms))

    def reserve(self, keys: list[str], amounts: list[int], limits: list[int],
                seeds: list[int], ttl_ms: int) -> Reservation:
        out = self._run(self._reserve, keys=keys, args=[*amounts, *limits, *seeds, ttl_ms])
        return Reservation(bool(out[0]), tuple(int(v) for v in out[1:]))

    def adjust(self, key: str, delta: int) -> None:
        if delta:
            self._run(self._r.incrby, key, delta)

    def close(self) -> None:
        self._r.close()


def open_store(uri: str, clock: Clock = SYSTEM_CLOCK,
               default_db: Path | None = None) -> LimitStore:
    """``memory://``, ``redis://HOST:PORT/DB`` or ``sqlite://[PATH]`` (no path: ``default_db``,
    the station's ``data/tenants.sqlite``)."""
    scheme = urlsplit(uri).scheme
    if scheme == "memory":
        return MemoryStore(clock)
    if scheme in ("redis", "rediss", "unix"):
        return RedisStore(uri)
    if scheme == "sqlite":
        from .limits_sqlite import SqliteStore

        path = uri[len("sqlite://"):] if uri.startswith("sqlite://") else ""
        db = Path(path) if path else default_db
        if db is None:
            raise ConfigError("the limits backend sqlite:// needs a path "
                              "(sqlite:///abs/path/tenants.sqlite)")
        return SqliteStore(db, clock)
    raise ConfigError(f"unknown limits backend {uri!r}: use memory://, sqlite://[PATH] or "
                      "redis://HOST:PORT/DB")
