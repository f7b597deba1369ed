"""The one place tests build stations: live lab stations (FFmpeg, SQLite, HTTP on
127.0.0.1), signed lab snapshots made with the vault API, and the shared ritual snapshot that
the revival tests restore.

Live stations
* ``clip_cache``: a folder of encoded mezzanines shared by every test of the session (and
  kept in pytest's cache dir between runs); clips are keyed by their full spec and the
  FFmpeg build, so a cached clip is byte-identical to a fresh encode. ``CLIP_CACHE`` is the
  same idea for helpers called outside a fixture (``VVTV_CLIP_CACHE`` overrides both).
* ``station_factory(profile="embedded", size_mb=0, up=True, ...)``: provisions a tiny
  station in ``tmp_path`` and, unless ``up=False``, brings it up on free ports; every
  station it made is brought down at teardown. ``station``: one embedded station, up.
* ``provision``/``running``/``wait_stable``/``state_of``/``corrupt_database``/``run_killed``:
  the ritual's tiny stations (three 8 s clips), brought up for real and always brought down.

Lab snapshots (no station)
* ``make_lab_snapshot``: a small signed snapshot built with the vault API; ``locked_lab``:
  the same after lockdown with ``FakeStation``, the in-memory station port;
  ``unlock_tree`` takes immutability flags off so pytest can remove its folders.
  Fixtures ``lab`` and ``locked``.

The revival source
* ``revival_source`` / ``source_lockdown`` (session): one real ritual snapshot of a small
  station, then lockdown, exactly what a new node receives; ``snapshot_copy`` /
  ``writable_copy``: a private, writable copy to tamper with.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.plugins.system import need, need_tool
from vvtvlib.core.config import read_toml
from vvtvlib.core.errors import DependencyMissing, VVTVError
from vvtvlib.core.layout import StationLayout
from vvtvlib.drills.rehearsal import SourceSnapshot, prepare_source
from vvtvlib.guardian.flags import set_immutable
from vvtvlib.hibernation import LockdownOptions, lockdown
from vvtvlib.station.control import StationStatus, status
from vvtvlib.station.nginx import rtmp_module
from vvtvlib.station.playout import PlayoutEntry
from vvtvlib.station.provision import Provisioned, init_station
from vvtvlib.station.supervisor import StationStopped, station_down, station_up
from vvtvlib.vault.minisign import generate_keypair, sign_file
from vvtvlib.vault.schema import build_manifest, write_manifest
from vvtvlib.vault.snapshot import write_archive
from vvtvlib.vault.sqlite import table_digests

# Small enough to encode in about a second, long enough for several 2 s segments per item.
TINY = {"items": 3, "clip_seconds": 20}
CLIP_CACHE = Path(os.environ.get("VVTV_CLIP_CACHE")
                  or Path(tempfile.gettempdir()) / "vvtv-clip-cache")
# Small thresholds so a station a few seconds old may run the ritual.
FAST = ["prechecks.encoder_stable_s=2", "freeze.wait_empty_timeout_s=60"]
STAMP = "2026-01-01_0000Z"


# --- live stations -----------------------------------------------------------------------

@dataclass
class LabStation:
    layout: StationLayout
    info: Provisioned

    @property
    def root(self) -> Path:
        return self.layout.root

    def up(self, timeout_s: float = 60, ingest: bool = True) -> StationStatus:
        return station_up(self.layout, timeout_s=timeout_s, ingest=ingest)

    def down(self, timeout_s: float = 30) -> StationStopped:
        return station_down(self.layout, timeout_s=timeout_s)

    def status(self) -> StationStatus:
        return status(self.layout)


def need_rtmp() -> None:
    """nginx with the RTMP module, or skip (fail under VVTV_REQUIRE_SYSTEM=1)."""
    need_tool("nginx")
    try:
        rtmp_module()
        ok = True
    except DependencyMissing:
        ok = False
    need(ok, "the nginx RTMP module (libnginx-mod-rtmp)")


@pytest.fixture(scope="session")
def clip_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Path:
    if os.environ.get("VVTV_CLIP_CACHE"):
        CLIP_CACHE.mkdir(parents=True, exist_ok=True)
        return CLIP_CACHE
    try:
        return Path(request.config.cache.mkdir("vvtv-clips"))  # type: ignore[union-attr]
    except (AttributeError, OSError):
        return tmp_path_factory.mktemp("vvtv-clips")


@pytest.fixture
def station_factory(tmp_path: Path, clip_cache: Path) -> Iterator[Callable[..., LabStation]]:
    made: list[LabStation] = []

    def make(profile: str = "embedded", size_mb: int = 0, *, up: bool = True,
             ingest: bool = True, name: str | None = None, timeout_s: float = 60,
             **init_kwargs: Any) -> LabStation:
        if profile == "nginx-rtmp":
            need_rtmp()
        root = tmp_path / (name or f"station-{len(made) + 1}")
        kwargs = {**TINY, **init_kwargs}
        info = init_station(root, profile=profile, size_mb=size_mb, clip_cache=clip_cache,
                            **kwargs)
        lab = LabStation(StationLayout.at(root), info)
        made.append(lab)
        if up:
            lab.up(timeout_s=timeout_s, ingest=ingest)
        return lab

    yield make
    for lab in made:
        with contextlib.suppress(Exception):  # teardown must reach every station
            station_down(lab.layout, timeout_s=15)


@pytest.fixture
def station(station_factory: Callable[..., LabStation]) -> LabStation:
    return station_factory()


def provision(root: Path, *, items: int = 3, clip_seconds: int = 8,
              workers: dict[str, Any] | None = None) -> StationLayout:
    init_station(root, items=items, clip_seconds=clip_seconds, clip_cache=CLIP_CACHE)
    layout = StationLayout.at(root)
    if workers:
        path = layout.configs / "station.toml"
        data = read_toml(path)
        data["workers"].update(workers)
        path.write_text(tomli_w.dumps(data))
    return layout


def wait_stable(layout: StationLayout, seconds: float = 2.5, timeout_s: float = 30) -> None:
    """Until the encoder has been up longer than ``seconds`` (the encoder_stable_s used)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = status(layout)
        if st.up and st.encoder_running and st.encoder_uptime_s > seconds:
            return
        time.sleep(0.25)
    raise AssertionError(f"encoder not stable for {seconds} s within {timeout_s} s")


@contextlib.contextmanager
def running(layout: StationLayout, timeout_s: float = 60) -> Iterator[StationLayout]:
    station_up(layout, timeout_s=timeout_s)
    try:
        wait_stable(layout)
        yield layout
    finally:
        station_down(layout, timeout_s=20)


def state_of(layout: StationLayout) -> dict[str, Any]:
    """What a refused ritual must leave exactly as it found it."""
    st = status(layout)

    def listing(path: Path) -> list[str]:
        return sorted(p.name for p in path.iterdir()) if path.is_dir() else []

    return {"up": st.up, "encoder_running": st.encoder_running, "run_id": st.encoder_run_id,
            "paused": st.paused, "queue_frozen": st.queue_frozen, "generation": st.generation,
            "snapshots": listing(layout.snapshots),
            "rehearsals": listing(layout.vault / "rehearsals"),
            "manifests": listing(layout.manifests), "history": listing(layout.history)}


def corrupt_database(path: Path) -> Path:
    """A real SQLite database with a b-tree page overwritten: integrity_check must fail."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE ledger_copy(id INTEGER PRIMARY KEY, memo TEXT)")
        conn.execute("CREATE INDEX ledger_copy_memo ON ledger_copy(memo)")
        conn.executemany("INSERT INTO ledger_copy(memo) VALUES(?)",
                         [(f"entry {i:05d} " * 4,) for i in range(3000)])
        conn.commit()
    raw = bytearray(path.read_bytes())
    page = 4096
    for offset in range(3 * page + 100, 3 * page + 900):
        raw[offset] = 0x5A
    path.write_bytes(bytes(raw))
    return path


def run_killed(layout: StationLayout, step: str, overrides: list[str], *,
               dry_run: bool = False, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ritual in a child process that SIGKILLs itself right after ``step``'s evidence
    line: the fault is injected here, by wrapping the evidence observer in the child."""
    code = ("import json, os, signal, sys\n"
            "from vvtvlib.core.layout import StationLayout\n"
            "from vvtvlib.core.steps import EvidenceObserver\n"
            "from vvtvlib.ritual import RitualOptions, run_ritual\n"
            "record = EvidenceObserver.step_finished\n"
            "def record_then_die(self, rec):\n"
            "    record(self, rec)\n"
            "    if rec.name == sys.argv[4]:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "EvidenceObserver.step_finished = record_then_die\n"
            "opts = RitualOptions(dry_run=json.loads(sys.argv[3]), "
            "overrides=json.loads(sys.argv[2]))\n"
            "run_ritual(StationLayout.at(sys.argv[1]), opts)\n")
    return subprocess.run([sys.executable, "-c", code, str(layout.root), json.dumps(overrides),
                           json.dumps(dry_run), step], capture_output=True, text=True,
                          timeout=timeout_s, cwd=str(Path(__file__).resolve().parents[2]))


# --- lab snapshots (vault API, no station) -----------------------------------------

@dataclass
class LabSnapshot:
    layout: StationLayout
    folder: Path
    stamp: str


def _databases(layout: StationLayout, rows: int) -> None:
    layout.data.mkdir(parents=True, exist_ok=True)
    for name in ("plans", "queue", "metrics", "control"):
        conn = sqlite3.connect(layout.db(name))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, note TEXT)")
        conn.executemany("INSERT INTO items(note) VALUES (?)",
                         [(f"{name}-{i}",) for i in range(rows)])
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


def make_lab_snapshot(root: Path, *, media_kb: int = 256, rows: int = 20,
                      stamp: str = STAMP, seed: int = 1) -> LabSnapshot:
    """Station tree + ``vault/snapshots/<stamp>/`` with three archives, a final frame, the
    signed manifest, ``SHA256SUMS`` and a copy of the manifest in ``vault/manifests/``."""
    layout = StationLayout.at(root)
    for p in layout.skeleton():
        p.mkdir(parents=True, exist_ok=True)
    _databases(layout, rows)
    (layout.configs / "station.toml").write_text('station_id = "lab"\n')
    rnd = random.Random(seed)
    for i in range(3):
        (layout.ready / f"item_{i}.mp4").write_bytes(rnd.randbytes(media_kb * 1024 // 3))
    if not layout.foundation_key.exists():
        generate_keypair(layout.foundation_key)
        shutil.copy(layout.foundation_pub, layout.trusted_keys / "foundation_ed25519.pub")
    folder = layout.snapshots / stamp
    folder.mkdir(parents=True)
    archives = {
        "snapshot_db.tar.zst": write_archive(folder / "snapshot_db.tar.zst", root, ["data"]),
        "snapshot_system.tar.zst": write_archive(folder / "snapshot_system.tar.zst", root,
                                                 ["system/configs"]),
        "snapshot_data.tar.zst": write_archive(folder / "snapshot_data.tar.zst", root,
                                               ["storage/ready"]),
    }
    (folder / "final_frame.jpg").write_bytes(rnd.randbytes(4096))
    (folder / "final_frame.json").write_text('{"item_id": "item_1", "offset_s": 12.0}\n')
    def art(name: str) -> dict[str, object]:
        data = (folder / name).read_bytes()
        return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    manifest = build_manifest(
        station_id="lab", stamp=stamp, generation=1,
        playout={"slot_id": "s1", "plan_id": "p1", "item_id": "item_1", "offset_s": 12.0},
        databases={db.name: {"tables": table_digests(db)}
                   for db in sorted(layout.data.glob("*.sqlite")) if db.name != "control.sqlite"},
        archives={k: v.to_manifest() for k, v in archives.items()},
        artifacts={n: art(n) for n in ("final_frame.jpg", "final_frame.json")})
    write_manifest(folder / "last_manifest.json", manifest)
    sign_file(layout.foundation_key, folder / "last_manifest.json", folder / "signature.sig",
              {"station": "lab", "generation": 1, "stamp": stamp})
    sums = [(p.name, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.iterdir()) if p.is_file()]
    (folder / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums))
    (folder / "last_transmission.md").write_text("# Last transmission\n")
    # published copies, as the ritual leaves them
    shutil.copy(folder / "last_manifest.json", layout.manifests / "last_manifest.json")
    shutil.copy(folder / "signature.sig", layout.manifests / "signature.sig")
    return LabSnapshot(layout, folder, stamp)


def unlock_tree(root: Path) -> None:
    """Clear the immutable flag everywhere under ``root`` (and restore owner write) so the
    folder can be deleted."""
    if not root.exists():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            p = Path(dirpath) / name if name else Path(dirpath)
            if p.is_symlink():
                continue
            try:
                set_immutable(p, False)
                os.chmod(p, os.lstat(p).st_mode | 0o200)
            except OSError:
                pass


def fake_status(*, up: bool = True, paused: dict[str, bool] | None = None,
                queue_frozen: bool = False, playing: dict[str, Any] | None = None
                ) -> StationStatus:
    """A ``StationStatus`` as a station reports it, for ports that run no station."""
    return StationStatus(
        up=up, profile="embedded", station_id="lab-fake", root="/nonexistent",
        queue_buffer_s=3600.0, queue_entries=10,
        paused=dict(paused or {"planner": False}), queue_frozen=queue_frozen,
        discovery_hold_until=None, in_progress=0, in_progress_by_worker={},
        encoder_running=up, encoder_uptime_s=0.0, encoder_restarts=0,
        encoder_last_restart_utc=None, encoder_run_id=None, encoder_args=None,
        segment_age_s=None, playing=playing, resume=None, broadcaster_desired="on",
        hls_url=None, status_url=None, generation=0, applied_generation=None, pid=None,
        checked_utc="2026-01-01T00:00:00.000Z")


class FakeStation:
    """The in-memory station port: records the order of calls, reports a healthy status."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.running = True

    def freeze(self) -> None:
        self.calls.append("freeze")

    def down(self) -> bool:
        self.calls.append("down")
        was, self.running = self.running, False
        return was

    def up_without_ingest(self, timeout_s: float) -> None:
        self.calls.append("up_without_ingest")
        self.running = True

    def resume_workers(self) -> None:
        self.calls.append("resume_workers")

    def start_broadcaster(self) -> None:
        self.calls.append("start_broadcaster")

    def status(self) -> StationStatus:
        return fake_status(up=self.running,
                           playing={"item_id": "item_1"} if self.running else None)

    def playout_mark(self) -> int:
        return 0

    def first_playout(self, mark: int, timeout_s: float) -> PlayoutEntry | None:
        return PlayoutEntry("item_1", 12.0) if self.running else None


def locked_lab(root: Path, **kw: object) -> tuple[LabSnapshot, FakeStation]:
    """A lab snapshot after lockdown (no guardian process)."""
    snap = make_lab_snapshot(root)
    station = FakeStation()
    report = lockdown(snap.layout, LockdownOptions(guardian=False, **kw),  # type: ignore[arg-type]
                      station=station)
    assert report.ok, report.to_dict()
    return snap, station


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabSnapshot]:
    snap = make_lab_snapshot(tmp_path / "station")
    yield snap
    unlock_tree(tmp_path)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[LabSnapshot, FakeStation]]:
    pair = locked_lab(tmp_path / "station")
    yield pair
    unlock_tree(tmp_path)


# --- the revival source ------------------------------------------------------------

def make_source(base: Path) -> tuple[SourceSnapshot, dict[str, Any]]:
    """The ritual's snapshot, then lockdown; the lockdown report is kept for the round-trip
    scenario (a lockdown problem fails that scenario, not every revival test)."""
    src = prepare_source(base / "source", items=2, clip_seconds=12, clip_cache=CLIP_CACHE)
    try:
        report = lockdown(StationLayout.at(src.root),
                          LockdownOptions(guardian=False, immutability="readonly",
                                          rotate_keys=False))
    except VVTVError as exc:  # the report is attached to the error that stopped it
        return src, exc.journal.to_dict() if exc.journal is not None else exc.to_dict()
    return src, report.to_dict()


@pytest.fixture(scope="session")
def _revival_source_and_lockdown(tmp_path_factory: pytest.TempPathFactory
                                 ) -> tuple[SourceSnapshot, dict[str, Any]]:
    return make_source(tmp_path_factory.mktemp("revival-source"))


@pytest.fixture(scope="session")
def revival_source(_revival_source_and_lockdown: tuple[SourceSnapshot, dict[str, Any]]
                   ) -> SourceSnapshot:
    return _revival_source_and_lockdown[0]


@pytest.fixture(scope="session")
def source_lockdown(_revival_source_and_lockdown: tuple[SourceSnapshot, dict[str, Any]]
                    ) -> dict[str, Any]:
    """The lockdown report of the shared source station."""
    return _revival_source_and_lockdown[1]


def writable_copy(src: Path, dst: Path) -> Path:
    """Copy a (read-only, locked down) snapshot folder so a test may tamper with it."""
    shutil.copytree(src, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dst


@pytest.fixture
def snapshot_copy(revival_source: SourceSnapshot, tmp_path: Path) -> Path:
    return writable_copy(revival_source.snapshot, tmp_path / "snapshot")
