"""The station's SQLite schemas: business databases and the control database.

``BUSINESS_DBS`` are what the ritual snapshots and what resume proves unchanged;
``control`` holds operator flags and playout state and is excluded from those proofs.
"""

from __future__ import annotations

from pathlib import Path

from .db import opened

SCHEMA_VERSION = 1

PLANS = """
CREATE TABLE IF NOT EXISTS items (
  item_id     TEXT PRIMARY KEY,
  title       TEXT NOT NULL,
  pattern     TEXT NOT NULL,
  path        TEXT NOT NULL,            -- relative to the station root
  sha256      TEXT NOT NULL,
  bytes       INTEGER NOT NULL,
  duration_s  REAL NOT NULL,
  width       INTEGER NOT NULL,
  height      INTEGER NOT NULL,
  fps         INTEGER NOT NULL,
  created_utc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS slots (
  slot_id     TEXT PRIMARY KEY,
  starts_utc  TEXT NOT NULL,
  duration_s  REAL NOT NULL,
  theme       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plans (
  plan_id     TEXT PRIMARY KEY,
  item_id     TEXT NOT NULL REFERENCES items(item_id),
  slot_id     TEXT REFERENCES slots(slot_id),
  status      TEXT NOT NULL CHECK (status IN
                ('discovered','planned','realizing','ready','aired','failed')),
  score       REAL NOT NULL DEFAULT 0,
  created_utc TEXT NOT NULL,
  updated_utc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS plans_status ON plans(status, created_utc);
CREATE INDEX IF NOT EXISTS plans_slot ON plans(slot_id);
CREATE TABLE IF NOT EXISTS renditions (
  rendition_id TEXT PRIMARY KEY,
  plan_id      TEXT NOT NULL REFERENCES plans(plan_id),
  path         TEXT NOT NULL,
  sha256       TEXT NOT NULL,
  bytes        INTEGER NOT NULL,
  preset       TEXT NOT NULL,
  created_utc  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS renditions_plan ON renditions(plan_id);
CREATE TABLE IF NOT EXISTS discoveries (
  discovery_id INTEGER PRIMARY KEY,
  source       TEXT NOT NULL,
  title        TEXT NOT NULL,
  score        REAL NOT NULL,
  status       TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new','accepted','rejected')),
  found_utc    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS discoveries_status ON discoveries(status, found_utc);
"""

QUEUE = """
CREATE TABLE IF NOT EXISTS queue (
  position     INTEGER PRIMARY KEY,
  item_id      TEXT NOT NULL,
  plan_id      TEXT,
  slot_id      TEXT,
  duration_s   REAL NOT NULL CHECK (duration_s > 0),
  status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued','aired','skipped')),
  enqueued_utc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_status ON queue(status, position);
CREATE INDEX IF NOT EXISTS queue_item ON queue(item_id);
"""

METRICS = """
CREATE TABLE IF NOT EXISTS samples (
  sample_id INTEGER PRIMARY KEY,
  ts_utc    TEXT NOT NULL,
  name      TEXT NOT NULL,
  value     REAL NOT NULL,
  labels    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS samples_name_ts ON samples(name, ts_utc);
CREATE TABLE IF NOT EXISTS jobs (
  job_id       INTEGER PRIMARY KEY,
  worker       TEXT NOT NULL,
  kind         TEXT NOT NULL,
  started_utc  TEXT NOT NULL,
  finished_utc TEXT,
  status       TEXT NOT NULL CHECK (status IN ('running','done','failed')),
  detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_worker ON jobs(worker, started_utc);
"""

ECONOMY = """
CREATE TABLE IF NOT EXISTS accounts (
  account       TEXT PRIMARY KEY,
  monthly_cents INTEGER NOT NULL,
  currency      TEXT NOT NULL DEFAULT 'EUR'
);
CREATE TABLE IF NOT EXISTS ledger (
  entry_id     INTEGER PRIMARY KEY,
  ts_utc       TEXT NOT NULL,
  account      TEXT NOT NULL REFERENCES accounts(account),
  kind         TEXT NOT NULL CHECK (kind IN ('cost','revenue','adjustment')),
  amount_cents INTEGER NOT NULL,
  ref          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS ledger_account_ts ON ledger(account, ts_utc);
"""

CONTROL = """
CREATE TABLE IF NOT EXISTS kv (
  name        TEXT PRIMARY KEY,
  value       TEXT NOT NULL,               -- JSON
  updated_utc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  event_id    INTEGER PRIMARY KEY,
  ts_utc      TEXT NOT NULL,
  command     TEXT NOT NULL,
  detail      TEXT NOT NULL DEFAULT '{}'
);
"""

BUSINESS_DBS: dict[str, str] = {"plans": PLANS, "queue": QUEUE, "metrics": METRICS,
                                "economy": ECONOMY}
ALL_DBS: dict[str, str] = {**BUSINESS_DBS, "control": CONTROL}


def create(path: str | Path, ddl: str) -> None:
    with opened(path) as conn:
        conn.executescript(ddl)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.commit()

