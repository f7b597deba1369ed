"""Pure generation of the seed rows a new station starts with (no I/O, seeded RNG)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from vvtvlib.core.clock import utc_iso

THEMES = ("morning news", "documentary", "music hour", "science", "archive", "late film",
          "children", "sport recap", "weather", "community")
WORDS = ("river", "signal", "harbour", "orbit", "lantern", "meadow", "circuit", "atlas",
         "copper", "delta", "ember", "glacier", "horizon", "island", "juniper", "keystone")
ACCOUNTS = (("transcode", 12_000), ("storage", 4_000), ("bandwidth", 9_000),
            ("sponsorship", 0))


@dataclass(frozen=True)
class ItemRow:
    item_id: str
    title: str
    pattern: str
    path: str
    sha256: str
    bytes: int
    duration_s: float
    width: int
    height: int
    fps: int


def title(rng: random.Random) -> str:
    return f"The {rng.choice(WORDS)} {rng.choice(WORDS)}".title()


def slots(now: datetime, hours: int = 24) -> list[tuple[str, str, float, str]]:
    start = now.replace(minute=0, second=0, microsecond=0)
    return [(f"slot-{(start + timedelta(hours=h)).strftime('%Y%m%dT%H')}",
             utc_iso(start + timedelta(hours=h)), 3600.0, THEMES[h % len(THEMES)])
            for h in range(hours)]


def plans(rng: random.Random, items: list[ItemRow], slot_ids: list[str], now: datetime,
          count: int) -> list[tuple[str, str, str, str, float, str, str]]:
    out = []
    for n in range(count):
        item = items[n % len(items)]
        status = "ready" if n < count * 3 // 4 else rng.choice(("planned", "discovered"))
        ts = utc_iso(now - timedelta(minutes=count - n))
        out.append((f"plan-{n + 1:05d}", item.item_id, slot_ids[n * len(slot_ids) // count],
                    status, round(rng.uniform(0.3, 0.99), 3), ts, ts))
    return out


def queue(items: list[ItemRow], plan_rows: list[tuple], slot_ids: list[str], now: datetime,
          min_seconds: float) -> list[tuple[int, str, str, str, float, str, str]]:
    """At least ``min_seconds`` of programming; entries reuse the items in rotation."""
    ready = [p for p in plan_rows if p[3] == "ready"]
    out: list[tuple[int, str, str, str, float, str, str]] = []
    total = 0.0
    n = 0
    while total < min_seconds:
        plan = ready[n % len(ready)]
        item = next(i for i in items if i.item_id == plan[1])
        slot = slot_ids[min(int(total // 3600), len(slot_ids) - 1)]
        out.append((n + 1, item.item_id, plan[0], slot, item.duration_s, "queued",
                    utc_iso(now)))
        total += item.duration_s
        n += 1
    return out


def discoveries(rng: random.Random, now: datetime, count: int = 24
                ) -> list[tuple[str, str, float, str, str]]:
    out = []
    for n in range(count):
        status = rng.choice(("new", "new", "accepted", "rejected"))
        out.append((f"feed://{rng.choice(WORDS)}/{n}", title(rng), round(rng.random(), 3),
                    status, utc_iso(now - timedelta(minutes=13 * (count - n)))))
    return out


def metric_samples(rng: random.Random, now: datetime, count: int = 240
                   ) -> list[tuple[str, str, float, str]]:
    out = []
    for n in range(count):
        ts = utc_iso(now - timedelta(minutes=(count - n) * 3))
        out.append((ts, "encoder_bitrate_kbps", round(rng.gauss(420, 25), 1), "{}"))
        out.append((ts, "segment_age_s", round(abs(rng.gauss(1.0, 0.4)), 2), "{}"))
        out.append((ts, "viewers", float(rng.randint(0, 40)), json.dumps({"edge": "lab"})))
    return out


def jobs(rng: random.Random, now: datetime, count: int = 40
         ) -> list[tuple[str, str, str, str, str, str]]:
    out = []
    for n in range(count):
        worker = ("planner", "realizer", "discovery")[n % 3]
        started = now - timedelta(minutes=5 * (count - n))
        out.append((worker, {"planner": "plan", "realizer": "transcode",
                             "discovery": "scan"}[worker], utc_iso(started),
                    utc_iso(started + timedelta(seconds=rng.randint(2, 40))), "done", ""))
    return out


def ledger(rng: random.Random, now: datetime, count: int = 120
           ) -> list[tuple[str, str, str, int, str]]:
    out = []
    for n in range(count):
        account, _ = ACCOUNTS[n % len(ACCOUNTS)]
        kind = "revenue" if account == "sponsorship" else "cost"
        out.append((utc_iso(now - timedelta(hours=count - n)), account, kind,
                    rng.randint(5, 900), f"seed-{n}"))
    return out
