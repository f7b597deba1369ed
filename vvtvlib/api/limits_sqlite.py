"""The ``sqlite://`` limits backend: limits and nonces in ``data/tenants.sqlite``, shared by
every worker (process) of one node.

    sqlite://                 the station's data/tenants.sqlite (``open_store(default_db=)``)
    sqlite:///abs/path.sqlite another file (the tenant schema is migrated into it)

Nonces go into the seed's table ``nonces(tenant_id, nonce, ts)`` (``ts`` = when the nonce was
first seen, epoch ms); token buckets, once-gates (key rotation) and quota counters into
``limit_buckets``, ``limit_once`` and ``limit_counters`` (migration 3 in ``tenants.py``).

Every decision is atomic across processes: a nonce is one ``INSERT ... ON CONFLICT DO UPDATE
... WHERE`` statement (the row is written, or refreshed when it has expired, or nothing
changes: ``changes()`` says which); a bucket, a reservation or a counter is read and written
inside ``BEGIN IMMEDIATE``, which holds SQLite's write lock from the first read. The time is
the wall clock (``clock.now()``), the one every process of the node shares. Expired rows
(nonces older than their TTL by ``ts``, full buckets, past gates and counters) are deleted
every ``GC_EVERY_S`` seconds by whichever process comes first.

WAL with ``synchronous=NORMAL``: a commit is a write to the WAL without an fsync, so a
decision costs tens of microseconds; a crash of the machine may forget the last decisions
(never a torn database). Several nodes need ``redis://``.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock

from .errors import LimitsUnavailable
from .limits import Decision, Reservation, bucket_step
from .tenants import connect, migrate

GC_EVERY_S = 30.0
NONCE_PREFIX = "nonce:"

UPSERT_NONCE = """
INSERT INTO nonces(tenant_id, nonce, ts) VALUES (?, ?, ?)
ON CONFLICT(tenant_id, nonce) DO UPDATE SET ts = excluded.ts WHERE nonces.ts <= ?
"""
UPSERT_ONCE = """
INSERT INTO limit_once(k, until) VALUES (?, ?)
ON CONFLICT(k) DO UPDATE SET until = excluded.until WHERE limit_once.until <= ?
"""


class SqliteStore:
    """One connection per process (a lock between its threads); SQLite's write lock between
    processes."""

    def __init__(self, path: str | Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = Path(path)
        self.uri = f"sqlite://{self.path}"
        self.clock = clock
        try:
            self._con = connect(self.path)
            migrate(self._con)
        except sqlite3.Error as exc:
            raise LimitsUnavailable(f"the limits backend {self.uri} cannot be opened ({exc})"
                                    ) from None
        self._lock = threading.Lock()
        self._nonce_ttl_ms = 0
        self._gc_at = -math.inf

    # -- plumbing ---------------------------------------------------------------------------
    def _now(self) -> float:
        return self.clock.now().timestamp()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the process lock; any SQLite error (a
        lock held past the busy timeout, a full disk) is ``LimitsUnavailable`` (503)."""
        with self._lock:
            con = self._con
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            except sqlite3.Error:
                raise LimitsUnavailable("the limits backend does not answer; retry later"
                                        ) from None

    def _one(self, sql: str, args: tuple[object, ...]) -> int:
        """One statement on its own (autocommit): the number of rows it changed."""
        with self._lock:
            try:
                return self._con.execute(sql, args).rowcount
            except sqlite3.Error:
                raise LimitsUnavailable("the limits backend does not answer; retry later"
                                        ) from None

    def _maybe_gc(self, now: float) -> None:
        if now - self._gc_at < GC_EVERY_S:
            return
        self._gc_at = now
        ms = int(now * 1000)
        with self._tx() as con:
            if self._nonce_ttl_ms:
                con.execute("DELETE FROM nonces WHERE ts <= ?", (ms - self._nonce_ttl_ms,))
            con.execute("DELETE FROM limit_once WHERE until <= ?", (ms,))
            con.execute("DELETE FROM limit_buckets WHERE until <= ?", (now,))
            con.execute("DELETE FROM limit_counters WHERE until <= ?", (ms,))

    # -- the interface ----------------------------------------------------------------------
    def take(self, key: str, capacity: float, rate_per_s: float, cost: float,
             force: bool = False) -> Decision:
        now = self._now()
        with self._tx() as con:
            row = con.execute("SELECT tokens, ts FROM limit_buckets WHERE k = ?",
                              (key,)).fetchone()
            tokens, last = (float(row[0]), float(row[1])) if row else (capacity, now)
            tokens, decision = bucket_step(tokens, last, now, capacity, rate_per_s, cost,
                                           force)
            full_at = now + (capacity - tokens) / rate_per_s + 1 if rate_per_s > 0 \
                else now + 86_400.0  # a bucket that never refills: kept a day
            con.execute("INSERT INTO limit_buckets(k, tokens, ts, until) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(k) DO UPDATE SET tokens = excluded.tokens, "
                        "ts = excluded.ts, until = excluded.until",
                        (key, tokens, now, full_at))
        self._maybe_gc(now)
        return decision

    def once(self, key: str, ttl_ms: int) -> bool:
        now = self._now()
        ms = int(now * 1000)
        if key.startswith(NONCE_PREFIX) and key.count(":") >= 2:
            tenant_id, nonce = key[len(NONCE_PREFIX):].split(":", 1)
            self._nonce_ttl_ms = max(self._nonce_ttl_ms, ttl_ms)
            fresh = self._one(UPSERT_NONCE, (tenant_id, nonce, ms, ms - ttl_ms)) == 1
        else:
            fresh = self._one(UPSERT_ONCE, (key, ms + ttl_ms, ms)) == 1
        self._maybe_gc(now)
        return fresh

    def reserve(self, keys: list[str], amounts: list[int], limits: list[int],
                seeds: list[int], ttl_ms: int) -> Reservation:
        ms = int(self._now() * 1000)
        with self._tx() as con:
            current = []
            for k, seed in zip(keys, seeds, strict=True):
                row = con.execute("SELECT v FROM limit_counters WHERE k = ? AND "
                                  "(until IS NULL OR until > ?)", (k, ms)).fetchone()
                if row is None:
                    con.execute("INSERT INTO limit_counters(k, v, until) VALUES (?, ?, ?) "
                                "ON CONFLICT(k) DO UPDATE SET v = excluded.v, "
                                "until = excluded.until", (k, seed, ms + ttl_ms))
                current.append(int(row[0]) if row else seed)
            if any(c + a > lim for c, a, lim in zip(current, amounts, limits, strict=True)):
                return Reservation(False, tuple(current))
            for k, a in zip(keys, amounts, strict=True):
                con.execute("UPDATE limit_counters SET v = v + ? WHERE k = ?", (a, k))
            return Reservation(True, tuple(c + a for c, a in zip(current, amounts,
                                                                 strict=True)))

    def adjust(self, key: str, delta: int) -> None:
        if delta:
            self._one("INSERT INTO limit_counters(k, v, until) VALUES (?, ?, NULL) "
                      "ON CONFLICT(k) DO UPDATE SET v = v + excluded.v", (key, delta))

    def close(self) -> None:
        with self._lock:
            self._con.close()
