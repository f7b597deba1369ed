"""``data/tenants.sqlite``: tenants, keys (with history), cert mappings, usage events.

The seed's tables (``tenants``, ``nonces``, ``usage_events``) plus ``api_keys`` (every key
a tenant has had, its encrypted secret, when it stops working) and ``cert_map`` (client
certificate CN -> tenant). Migrations are numbered and recorded in ``schema_version``.

Every change bumps ``meta.generation``; a running worker re-reads its cached view when the
generation moved (checked at most every ``refresh_s``, and at once on a miss), so
suspensions, limits and rotations take effect within one second without a restart, and a
tenant, key or certificate mapping just made is known on its first request.
"""

from __future__ import annotations

import builtins
import json
import secrets as _secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import UsageError

from .secrets import MasterKey, fingerprint, new_public_key, new_secret

MIGRATIONS: list[str] = [
    """
    CREATE TABLE tenants(
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      status TEXT NOT NULL CHECK(status IN ('active','suspended')),
      plan TEXT NOT NULL,
      api_public_key TEXT UNIQUE,
      api_secret_hash TEXT,
      rpm_limit INTEGER NOT NULL,
      rps_burst INTEGER NOT NULL,
      tpm_limit INTEGER,
      scopes TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL);
    CREATE TABLE nonces(tenant_id TEXT, nonce TEXT, ts INTEGER,
                        PRIMARY KEY(tenant_id, nonce));
    CREATE TABLE usage_events(ts INTEGER, tenant_id TEXT, route TEXT, tokens_in INTEGER,
                              tokens_out INTEGER, duration_ms INTEGER, status INTEGER,
                              request_id TEXT);
    CREATE INDEX usage_tenant_ts ON usage_events(tenant_id, ts);
    CREATE TABLE api_keys(
      public_key TEXT PRIMARY KEY,
      tenant_id TEXT NOT NULL REFERENCES tenants(id),
      secret_enc BLOB NOT NULL,
      secret_hash TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER,
      revoked_at INTEGER);
    CREATE TABLE cert_map(cn TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id));
    CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
    INSERT INTO meta VALUES ('generation', 0);
    """,
    # 2: bytes in/out per usage event (billing rollups)
    """
    ALTER TABLE usage_events ADD COLUMN bytes_in INTEGER DEFAULT 0;
    ALTER TABLE usage_events ADD COLUMN bytes_out INTEGER DEFAULT 0;
    """,
    # 3: the ``sqlite://`` limits backend (``limits_sqlite.py``): nonces expire by ``ts``;
    # token buckets, once-gates and quota counters shared by the workers of one node
    """
    CREATE INDEX nonces_ts ON nonces(ts);
    CREATE TABLE limit_buckets(k TEXT PRIMARY KEY, tokens REAL NOT NULL, ts REAL NOT NULL,
                               until REAL NOT NULL);
    CREATE TABLE limit_once(k TEXT PRIMARY KEY, until INTEGER NOT NULL);
    CREATE TABLE limit_counters(k TEXT PRIMARY KEY, v INTEGER NOT NULL, until INTEGER);
    """,
]


def _ms(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1000)


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    status: str
    plan: str
    api_public_key: str
    rpm_limit: int
    rps_burst: int
    tpm_limit: int | None
    scopes: tuple[str, ...]
    created_at: int
    updated_at: int

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scopes"] = list(self.scopes)
        return d


@dataclass(frozen=True)
class ApiKey:
    public_key: str
    tenant_id: str
    secret: str = field(repr=False)
    created_at: int
    expires_at: int | None
    revoked_at: int | None

    def usable_at(self, now_ms: int) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now_ms:
            return False
        return self.expires_at is None or now_ms < self.expires_at


@dataclass(frozen=True)
class Credentials:
    """What ``create`` and ``rotate`` print once."""

    tenant_id: str
    api_public_key: str
    api_secret: str = field(repr=False)
    old_key_expires_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UsageEvent:
    ts: int
    tenant_id: str
    route: str
    tokens_in: int
    tokens_out: int
    duration_ms: int
    status: int
    request_id: str
    bytes_in: int = 0
    bytes_out: int = 0


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA busy_timeout=10000")
    return con


def migrate(con: sqlite3.Connection) -> int:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)")
    row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
    current = int(row[0] or 0)
    for i, script in enumerate(MIGRATIONS[current:], start=current + 1):
        con.execute("BEGIN IMMEDIATE")
        try:
            for stmt in [s for s in script.split(";") if s.strip()]:
                con.execute(stmt)
            con.execute("INSERT INTO schema_version VALUES (?)", (i,))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


SCOPES = ("infer", "usage", "keys:rotate")


def parse_scopes(text: str | Iterable[str]) -> tuple[str, ...]:
    try:
        items = json.loads(text) if isinstance(text, str) else list(text)
    except json.JSONDecodeError:
        raise UsageError(f"--scopes must be a JSON array such as '[\"infer\"]', got {text!r}"
                         ) from None
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise UsageError("--scopes must be a JSON array of strings")
    unknown = sorted(set(items) - set(SCOPES))
    if unknown:
        raise UsageError(f"unknown scopes {unknown}; known: {list(SCOPES)}")
    return tuple(dict.fromkeys(items))


class TenantStore:
    """One connection per store; safe across threads (a lock) and processes (SQLite WAL)."""

    def __init__(self, path: Path, master: MasterKey | None, *, clock: Clock = SYSTEM_CLOCK,
                 refresh_s: float = 0.25) -> None:
        self.path, self.master, self.clock, self.refresh_s = path, master, clock, refresh_s
        self._con = connect(path)
        migrate(self._con)
        self._lock = threading.Lock()
        self._gen = -1
        self._checked = -1e9
        self._keys: dict[str, ApiKey] = {}
        self._tenants: dict[str, Tenant] = {}
        self._certs: dict[str, str] = {}

    def close(self) -> None:
        self._con.close()

    # -- reads through the cache ----------------------------------------------------------
    def _fresh(self, force: bool = False) -> None:
        now = self.clock.monotonic()
        if not force and now - self._checked < self.refresh_s:
            return
        with self._lock:
            self._checked = now
            gen = int(self._con.execute("SELECT v FROM meta WHERE k='generation'").fetchone()[0])
            if gen == self._gen:
                return
            self._tenants = {t.id: t for t in self._all_tenants()}
            self._keys = {}
            for pk, tid, enc, created, exp, rev in self._con.execute(
                    "SELECT public_key, tenant_id, secret_enc, created_at, expires_at,"
                    " revoked_at FROM api_keys"):
                secret = self.master.decrypt(enc, aad=pk) if self.master else ""
                self._keys[pk] = ApiKey(pk, tid, secret, created, exp, rev)
            self._certs = dict(self._con.execute("SELECT cn, tenant_id FROM cert_map"))
            self._gen = gen

    # A miss looks at the generation at once (one indexed read): a key or mapping made a
    # moment ago works on its first request, while changes to known ones still arrive
    # within ``refresh_s``.
    def key(self, public_key: str) -> ApiKey | None:
        self._fresh()
        k = self._keys.get(public_key)
        if k is None:
            self._fresh(force=True)
            k = self._keys.get(public_key)
        return k

    def tenant(self, tenant_id: str) -> Tenant | None:
        self._fresh()
        t = self._tenants.get(tenant_id)
        if t is None:
            self._fresh(force=True)
            t = self._tenants.get(tenant_id)
        return t

    def tenant_for_cn(self, cn: str) -> str | None:
        self._fresh()
        tid = self._certs.get(cn)
        if tid is None:
            self._fresh(force=True)
            tid = self._certs.get(cn)
        return tid

    def invalidate(self) -> None:
        self._checked = -1e9

    # -- operator commands ----------------------------------------------------------------
    def _all_tenants(self) -> list[Tenant]:
        rows = self._con.execute(
            "SELECT id, name, status, plan, api_public_key, rpm_limit, rps_burst, tpm_limit,"
            " scopes, created_at, updated_at FROM tenants ORDER BY created_at, id").fetchall()
        return [Tenant(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                       tuple(json.loads(r[8])), r[9], r[10]) for r in rows]

    def all(self) -> list[Tenant]:
        with self._lock:
            return self._all_tenants()

    def get(self, tenant_id: str) -> Tenant:
        for t in self.all():
            if t.id == tenant_id or t.name == tenant_id:
                return t
        raise UsageError(f"no tenant {tenant_id!r}", actual=tenant_id)

    def _write(self, sql_args: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in sql_args:
                    self._con.execute(sql, args)
                self._con.execute("UPDATE meta SET v = v + 1 WHERE k='generation'")
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
        self.invalidate()

    def _key_rows(self, tenant_id: str, pk: str, secret: str, now: int
                  ) -> builtins.list[tuple[str, tuple[Any, ...]]]:
        assert self.master is not None, "a master key is needed to store secrets"
        return [("INSERT INTO api_keys(public_key, tenant_id, secret_enc, secret_hash,"
                 " created_at) VALUES (?,?,?,?,?)",
                 (pk, tenant_id, self.master.encrypt(secret, aad=pk), fingerprint(secret), now)),
                ("UPDATE tenants SET api_public_key=?, api_secret_hash=?, updated_at=?"
                 " WHERE id=?", (pk, fingerprint(secret), now, tenant_id))]

    def create(self, name: str, plan: str, rpm: int, burst: int, scopes: Iterable[str],
               tpm: int | None = None) -> Credentials:
        if not name.strip():
            raise UsageError("--name must not be empty")
        if rpm < 1 or burst < 1:
            raise UsageError("--rpm and --burst must be at least 1")
        scopes = parse_scopes(list(scopes))
        tid = "t_" + _secrets.token_hex(6)
        pk, secret, now = new_public_key(), new_secret(), _ms(self.clock)
        self._write([("INSERT INTO tenants(id, name, status, plan, rpm_limit, rps_burst,"
                      " tpm_limit, scopes, created_at, updated_at)"
                      " VALUES (?,?,?,?,?,?,?,?,?,?)",
                      (tid, name, "active", plan, rpm, burst, tpm, json.dumps(list(scopes)),
                       now, now)),
                     *self._key_rows(tid, pk, secret, now)])
        return Credentials(tid, pk, secret)

    def set_status(self, tenant_id: str, status: str) -> Tenant:
        t = self.get(tenant_id)
        self._write([("UPDATE tenants SET status=?, updated_at=? WHERE id=?",
                      (status, _ms(self.clock), t.id))])
        return self.get(t.id)

    def set_limits(self, tenant_id: str, *, rpm: int | None = None, burst: int | None = None,
                   tpm: int | None = None, plan: str | None = None,
                   scopes: Iterable[str] | None = None) -> Tenant:
        t = self.get(tenant_id)
        if (rpm is not None and rpm < 1) or (burst is not None and burst < 1):
            raise UsageError("--rpm and --burst must be at least 1")
        sc = parse_scopes(list(scopes)) if scopes is not None else t.scopes
        self._write([("UPDATE tenants SET rpm_limit=?, rps_burst=?, tpm_limit=?, plan=?,"
                      " scopes=?, updated_at=? WHERE id=?",
                      (rpm or t.rpm_limit, burst or t.rps_burst,
                       tpm if tpm is not None else t.tpm_limit, plan or t.plan,
                       json.dumps(list(sc)), _ms(self.clock), t.id))])
        return self.get(t.id)

    def map_cert(self, tenant_id: str, cn: str) -> None:
        t = self.get(tenant_id)
        if not cn.strip():
            raise UsageError("--cn must not be empty")
        self._write([("INSERT OR REPLACE INTO cert_map(cn, tenant_id) VALUES (?,?)",
                      (cn, t.id))])

    def rotate(self, tenant_id: str, *, grace_s: int, revoke_now: bool = False,
               min_interval_s: int = 0) -> Credentials:
        """A new key works now; the previous ones stop after ``grace_s`` (or now). With
        ``min_interval_s``, a rotation less than that long after the previous one is
        :class:`RateLimited` (``revoke_now``, for a leaked key, is never refused)."""
        t = self.get(tenant_id)
        pk, secret, now = new_public_key(), new_secret(), _ms(self.clock)
        keys = self.keys_of(t.id)
        if min_interval_s and not revoke_now and len(keys) > 1:
            last = max(int(k["created_at"]) for k in keys)
            wait_ms = last + min_interval_s * 1000 - now
            if wait_ms > 0:
                from .errors import RateLimited

                raise RateLimited(f"the tenant's key was rotated less than {min_interval_s} s "
                                  "ago; retry later, or use --revoke-now for a leaked key",
                                  retry_after_s=max(1, -(-wait_ms // 1000)))
        until = now if revoke_now else now + grace_s * 1000
        rows: list[tuple[str, tuple[Any, ...]]] = [
            ("UPDATE api_keys SET expires_at=? WHERE tenant_id=? AND"
             " (expires_at IS NULL OR expires_at > ?)", (until, t.id, until))]
        if revoke_now:
            rows.append(("UPDATE api_keys SET revoked_at=? WHERE tenant_id=? AND"
                         " revoked_at IS NULL", (now, t.id)))
        self._write(rows + self._key_rows(t.id, pk, secret, now))
        return Credentials(t.id, pk, secret, until)

    def keys_of(self, tenant_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._con.execute(
                "SELECT public_key, secret_hash, created_at, expires_at, revoked_at FROM"
                " api_keys WHERE tenant_id=? ORDER BY created_at", (tenant_id,)).fetchall()
        return [{"public_key": r[0], "fingerprint": r[1], "created_at": r[2],
                 "expires_at": r[3], "revoked_at": r[4]} for r in rows]

    # -- usage ------------------------------------------------------------------------------
    def record_usage(self, events: list[UsageEvent]) -> None:
        if not events:
            return
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany(
                    "INSERT INTO usage_events(ts, tenant_id, route, tokens_in, tokens_out,"
                    " duration_ms, status, request_id, bytes_in, bytes_out)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [(e.ts, e.tenant_id, e.route, e.tokens_in, e.tokens_out, e.duration_ms,
                      e.status, e.request_id, e.bytes_in, e.bytes_out) for e in events])
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def usage(self, tenant_id: str, from_ms: int, to_ms: int) -> list[UsageEvent]:
        with self._lock:
            rows = self._con.execute(
                "SELECT ts, tenant_id, route, tokens_in, tokens_out, duration_ms, status,"
                " request_id, bytes_in, bytes_out FROM usage_events WHERE tenant_id=? AND"
                " ts >= ? AND ts < ? ORDER BY ts", (tenant_id, from_ms, to_ms)).fetchall()
        return [UsageEvent(*r) for r in rows]

    def usage_all(self, from_ms: int, to_ms: int) -> list[UsageEvent]:
        """Every tenant's events in ``[from_ms, to_ms)``, in a stable order (rollups)."""
        with self._lock:
            rows = self._con.execute(
                "SELECT ts, tenant_id, route, tokens_in, tokens_out, duration_ms, status,"
                " request_id, bytes_in, bytes_out FROM usage_events WHERE ts >= ? AND ts < ?"
                " ORDER BY tenant_id, ts, request_id", (from_ms, to_ms)).fetchall()
        return [UsageEvent(*r) for r in rows]

    def month_totals(self, tenant_id: str, month_start_ms: int) -> tuple[int, int]:
        """(requests, tokens) billed this month: answered inference calls recorded so far
        (a refused or failed call gives its reservation back)."""
        with self._lock:
            r = self._con.execute(
                "SELECT COUNT(*), COALESCE(SUM(tokens_in + tokens_out), 0) FROM usage_events"
                " WHERE tenant_id=? AND ts >= ? AND route='/v1/infer' AND status = 200",
                (tenant_id, month_start_ms)).fetchone()
        return int(r[0]), int(r[1])


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def open_tenants(root: str | Path | None, clock: Clock = SYSTEM_CLOCK) -> TenantStore:
    """The tenant store of an initialised root (``vvtvctl api init``)."""
    from vvtvlib.core.errors import DependencyMissing

    from .config import ApiLayout

    lay = ApiLayout(root)
    if not lay.master_key.exists():
        raise DependencyMissing(f"{lay.root} has no API (run `vvtvctl api init --root "
                                f"{lay.root}`)", path=lay.master_key)
    return TenantStore(lay.tenants_db, MasterKey.load(lay.master_key), clock=clock)
