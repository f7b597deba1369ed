"""Planner, realizer and discovery workers: threads that really write the databases.

A worker claims a slot at the ``Gate`` before each job: the claim checks the flags and
counts the job as in progress under one lock. Once the supervisor has applied a pause (the
generation it reports), no new job can start, and ``in_progress == 0`` means every job
that started has finished writing: that is what "wait until in_progress = 0" relies on.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.features import DEFAULTS, Features, FlagWatcher
from vvtvlib.core.layout import StationLayout
from vvtvlib.media.ffmpeg import run_ffmpeg
from vvtvlib.station.encoder import encoder_args, load_encoder_settings, preset_label
from vvtvlib.vault.manifest import sha256_file

from . import seedrows
from .config import WorkersSection
from .curator import autopilot, curate
from .db import transaction
from .metrics import StationMetrics
from .state import WORKERS, ControlStore, Flags


@dataclass(frozen=True)
class GateSnapshot:
    """The flags generation the workers apply and their job counts, per worker."""

    generation: int
    in_progress: dict[str, int]
    jobs_done: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"generation": self.generation, "in_progress": dict(self.in_progress),
                "jobs_done": dict(self.jobs_done)}


class Gate:
    def __init__(self, flags: Flags) -> None:
        self.lock = threading.Lock()
        self.flags = flags
        self.in_progress: dict[str, int] = dict.fromkeys(WORKERS, 0)
        self.jobs_done: dict[str, int] = dict.fromkeys(WORKERS, 0)

    def apply(self, flags: Flags) -> None:
        with self.lock:
            self.flags = flags

    def claim(self, worker: str) -> Flags | None:
        with self.lock:
            if self.flags.worker_blocked(worker, utc_iso()):
                return None
            self.in_progress[worker] += 1
            return self.flags

    def release(self, worker: str, done: bool) -> None:
        with self.lock:
            self.in_progress[worker] -= 1
            if done:
                self.jobs_done[worker] += 1

    def snapshot(self) -> GateSnapshot:
        with self.lock:
            return GateSnapshot(self.flags.generation, dict(self.in_progress),
                                dict(self.jobs_done))


def playing_queue_position(control: ControlStore) -> int:
    at = control.on_air()
    return at.queue_position if at else 1


def _job_row(layout: StationLayout, worker: str, kind: str, started: str, status: str,
             detail: str) -> None:
    with transaction(layout.db("metrics")) as c:
        c.execute("INSERT INTO jobs(worker, kind, started_utc, finished_utc, status, detail) "
                  "VALUES (?,?,?,?,?,?)", (worker, kind, started, utc_iso(), status, detail))


def plan_job(layout: StationLayout, cfg: WorkersSection, flags: Flags, rng: random.Random,
             control: ControlStore, after: Callable[[str], None] | None = None) -> str:
    """Plan one item; unless the queue is frozen, mark aired entries and top the queue up."""
    now = utc_iso()
    with transaction(layout.db("plans")) as c:
        items = [r[0] for r in c.execute("SELECT item_id FROM items ORDER BY item_id")]
        slot = c.execute("SELECT slot_id FROM slots WHERE starts_utc <= ? ORDER BY starts_utc "
                         "DESC LIMIT 1", (now,)).fetchone()
        n = c.execute("SELECT COUNT(*) FROM plans").fetchone()[0]
        plan_id = f"plan-{n + 1:05d}-{rng.randrange(16 ** 4):04x}"
        c.execute("INSERT INTO plans VALUES (?,?,?,?,?,?,?)",
                  (plan_id, rng.choice(items), slot[0] if slot else None, "planned",
                   round(rng.uniform(0.3, 0.99), 3), now, now))
    appended = 0
    if not flags.queue_frozen:
        playing = playing_queue_position(control)
        with transaction(layout.db("queue")) as c:
            c.execute("UPDATE queue SET status='aired' WHERE status='queued' AND position < ?",
                      (playing,))
            buffered = c.execute("SELECT COALESCE(SUM(duration_s),0) FROM queue WHERE "
                                 "status='queued'").fetchone()[0]
            while buffered < cfg.queue_target_s:
                last = c.execute("SELECT MAX(position) FROM queue").fetchone()[0]
                src = c.execute("SELECT item_id, plan_id, slot_id, duration_s FROM queue "
                                "WHERE position = ?", (_rotation_source(c, last),)).fetchone()
                c.execute("INSERT INTO queue(position, item_id, plan_id, slot_id, duration_s, "
                          "status, enqueued_utc) VALUES (?,?,?,?,?,'queued',?)",
                          (last + 1, src[0], src[1], src[2], src[3], now))
                buffered += src[3]
                appended += 1
    with transaction(layout.db("metrics")) as c:
        c.execute("INSERT INTO samples(ts_utc, name, value, labels) VALUES (?,?,?,?)",
                  (now, "planner_plans_created", 1.0, json.dumps({"plan": plan_id})))
    if after is not None:
        after(plan_id)
    return f"planned {plan_id}; queue +{appended}"


def _rotation_source(c: Any, last_position: int) -> int:
    """The entry the next appended one repeats: one rotation of the items back (the lab
    station loops its programming, keeping the schedule's rhythm)."""
    first = c.execute("SELECT MIN(position) FROM queue").fetchone()[0]
    items = c.execute("SELECT COUNT(DISTINCT item_id) FROM queue").fetchone()[0] or 1
    return max(first, last_position + 1 - items)


def realize_job(layout: StationLayout, cfg: WorkersSection, rng: random.Random,
                control: ControlStore) -> str | None:
    """Transcode one planned item into a rendition (a short real FFmpeg job)."""
    with transaction(layout.db("plans")) as c:
        row = c.execute("SELECT p.plan_id, i.path FROM plans p JOIN items i USING(item_id) "
                        "WHERE p.status='planned' ORDER BY p.created_utc LIMIT 1").fetchone()
        if row is None:
            return None
        plan_id, src = row[0], row[1]
        c.execute("UPDATE plans SET status='realizing', updated_utc=? WHERE plan_id=?",
                  (utc_iso(), plan_id))
    tmp = layout.tmp / f"{plan_id}.mp4"
    final = layout.ready / "renditions" / f"{plan_id}.mp4"
    final.parent.mkdir(parents=True, exist_ok=True)
    settings = load_encoder_settings(layout)
    preset = f"160x90-{preset_label(settings)}"
    try:
        # -re paces the transcode at real time: the job takes realizer_job_s seconds of
        # wall time at very low CPU, like a download-and-transcode step would.
        run_ffmpeg(["-y", "-re", "-i", str(layout.root / src), "-t", f"{cfg.realizer_job_s:g}",
                    "-vf", "scale=160:90", "-an", *encoder_args(settings),
                    "-threads", "1", str(tmp)], timeout_s=cfg.realizer_job_s + 30,
                   what=f"realizer job {plan_id}")
        tmp.replace(final)
    except Exception:
        with transaction(layout.db("plans")) as c:
            c.execute("UPDATE plans SET status='failed', updated_utc=? WHERE plan_id=?",
                      (utc_iso(), plan_id))
        tmp.unlink(missing_ok=True)
        raise
    digest, size = sha256_file(final)

    now = utc_iso()
    with transaction(layout.db("plans")) as c:
        c.execute("INSERT INTO renditions VALUES (?,?,?,?,?,?,?)",
                  (f"r-{plan_id}", plan_id, str(final.relative_to(layout.root)),
                   digest, size, preset, now))
        c.execute("UPDATE plans SET status='ready', updated_utc=? WHERE plan_id=?",
                  (now, plan_id))
        old = c.execute("SELECT rendition_id, path FROM renditions ORDER BY created_utc DESC, "
                        "rendition_id DESC LIMIT -1 OFFSET ?", (cfg.renditions_keep,)).fetchall()
        for rid, path in old:
            c.execute("DELETE FROM renditions WHERE rendition_id=?", (rid,))
            (layout.root / path).unlink(missing_ok=True)
    with transaction(layout.db("economy")) as c:
        c.execute("INSERT INTO ledger(ts_utc, account, kind, amount_cents, ref) "
                  "VALUES (?,?,?,?,?)", (now, "transcode", "cost", rng.randint(1, 9), plan_id))
    return f"realized {plan_id}"


def discover_job(layout: StationLayout, rng: random.Random) -> str:
    now = utc_iso()
    with transaction(layout.db("plans")) as c:
        c.execute("INSERT INTO discoveries(source, title, score, status, found_utc) "
                  "VALUES (?,?,?,?,?)", (f"feed://{rng.choice(seedrows.WORDS)}",
                                          seedrows.title(rng), round(rng.random(), 3), "new",
                                          now))
        c.execute("UPDATE discoveries SET status = CASE WHEN score >= 0.5 THEN 'accepted' "
                  "ELSE 'rejected' END WHERE status='new' AND found_utc < ?", (now,))
    with transaction(layout.db("metrics")) as c:
        c.execute("INSERT INTO samples(ts_utc, name, value, labels) VALUES (?,?,?,?)",
                  (now, "discovery_items_found", 1.0, "{}"))
    return "discovered 1"


class WorkerPool:
    def __init__(self, layout: StationLayout, cfg: WorkersSection, gate: Gate, *,
                 seed: int = 1, logger: Any = None, metrics: StationMetrics | None = None,
                 features: FlagWatcher | None = None) -> None:
        self.layout = layout
        self.cfg = cfg
        self.gate = gate
        self.log = logger
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.control = ControlStore(layout)
        self.seed = seed
        self.metrics = metrics
        self.last_error: dict[str, str] = {}
        self.features = features

    def flags(self) -> Features:
        return self.features.current() if self.features is not None else DEFAULTS

    def drained(self, worker: str) -> bool:
        """``ops drain --service planner`` holds the planner; ``--service streaming`` holds
        the realizer (no new renditions) while the broadcast goes on."""
        d = self.flags().drain
        return (worker == "planner" and d.planner) or (worker == "realizer" and d.streaming)

    def _curate(self, rng: random.Random) -> Callable[[str], None]:
        def after(plan_id: str) -> None:
            features = self.flags()
            curate(self.layout, plan_id, features, rng, self.metrics)
            autopilot(self.layout, plan_id, features, rng, self.metrics)
        return after

    def _job(self, worker: str, rng: random.Random) -> Callable[[Flags], str | None]:
        if worker == "planner":
            after = self._curate(rng)
            return lambda flags: plan_job(self.layout, self.cfg, flags, rng, self.control,
                                          after)
        if worker == "realizer":
            return lambda flags: realize_job(self.layout, self.cfg, rng, self.control)
        return lambda flags: discover_job(self.layout, rng)

    def _loop(self, worker: str, interval: float) -> None:
        rng = random.Random(f"{self.seed}:{worker}:{time.time_ns()}")
        job = self._job(worker, rng)
        while not self.stop_event.wait(interval):
            if self.drained(worker):
                continue
            flags = self.gate.claim(worker)
            if flags is None:
                continue
            started = utc_iso()
            done = failed = False
            t0 = time.perf_counter()
            try:
                detail = job(flags)
                if worker == "planner" and self.metrics is not None:
                    # the selection cycle: choose an item, plan it, top the queue up
                    self.metrics.planner_cycle.observe((time.perf_counter() - t0) * 1000.0)
                if detail is not None:
                    _job_row(self.layout, worker, "job", started, "done", detail)
                    done = True
            except Exception as exc:  # noqa: BLE001 - a failed job is logged, the worker lives
                failed = True
                self.last_error[worker] = str(exc)
                if self.log:
                    self.log.error("worker job failed", worker=worker, error=str(exc))
                with contextlib.suppress(Exception):
                    _job_row(self.layout, worker, "job", started, "failed", str(exc)[:500])
            finally:
                self.gate.release(worker, done)
                if self.metrics is not None and (done or failed):
                    self.metrics.jobs.labels(worker, "done" if done else "failed").inc()

    def start(self) -> None:
        intervals = {"planner": self.cfg.planner_interval_s,
                     "realizer": self.cfg.realizer_interval_s,
                     "discovery": self.cfg.discovery_interval_s}
        for worker in WORKERS:
            t = threading.Thread(target=self._loop, args=(worker, intervals[worker]),
                                 name=f"worker-{worker}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout_s: float = 20.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout_s
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))


def clean_tmp(layout: StationLayout) -> None:
    """Leftovers of jobs cut by a crash: storage/tmp is scratch space, never snapshotted."""
    for p in layout.tmp.glob("*"):
        if p.is_file():
            p.unlink(missing_ok=True)
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)

