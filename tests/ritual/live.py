"""Live lab stations for the ritual's integration tests and acceptance features.

Tiny stations (three 8 s clips, no filler) with FFmpeg clips cached across runs, brought up
for real (supervisor, FFmpeg, HTTP on a free port, workers) and always brought down.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tomli_w

from vvtvlib.core.config import read_toml
from vvtvlib.core.layout import StationLayout

CLIP_CACHE = Path(tempfile.gettempdir()) / "vvtv-test-clip-cache"
# Small thresholds so a station a few seconds old may run the ritual.
FAST = ["prechecks.encoder_stable_s=2", "freeze.wait_empty_timeout_s=60"]


def provision(root: Path, *, items: int = 3, clip_seconds: int = 8,
              workers: dict[str, Any] | None = None) -> StationLayout:
    from vvtvlib.station.provision import init_station

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
    from vvtvlib.station.control import status

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = status(layout)
        if st.up and st.encoder_running and st.encoder_uptime_s > seconds:
            return
        time.sleep(0.25)
    raise AssertionError(f"encoder not stable for {seconds} s within {timeout_s} s")


@contextlib.contextmanager
def running(layout: StationLayout, timeout_s: float = 60) -> Iterator[StationLayout]:
    from vvtvlib.station.supervisor import station_down, station_up

    station_up(layout, timeout_s=timeout_s)
    try:
        wait_stable(layout)
        yield layout
    finally:
        station_down(layout, timeout_s=20)


def state_of(layout: StationLayout) -> dict[str, Any]:
    """What a refused ritual must leave exactly as it found it."""
    from vvtvlib.station.control import status

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
    line: the fault is injected here, by wrapping the step recorder in the child."""
    code = ("import json, os, signal, sys\n"
            "from vvtvlib.core.layout import StationLayout\n"
            "from vvtvlib.ritual import RitualOptions, run_ritual\n"
            "from vvtvlib.ritual.flow import Ritual\n"
            "record = Ritual._record\n"
            "def record_then_die(self, rec):\n"
            "    record(self, rec)\n"
            "    if rec.name == sys.argv[4]:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "Ritual._record = record_then_die\n"
            "opts = RitualOptions(dry_run=json.loads(sys.argv[3]), "
            "overrides=json.loads(sys.argv[2]))\n"
            "run_ritual(StationLayout.at(sys.argv[1]), opts)\n")
    return subprocess.run([sys.executable, "-c", code, str(layout.root), json.dumps(overrides),
                           json.dumps(dry_run), step], capture_output=True, text=True,
                          timeout=timeout_s, cwd=str(Path(__file__).resolve().parents[2]))
