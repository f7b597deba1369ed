"""Read-only measurements of a live station for the pre-checks and the final frame.

Nothing here writes: databases are opened read-only, the station is asked for its status.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vvtvlib.core.layout import StationLayout

from .prechecks import WORKERS, Measurements

if TYPE_CHECKING:
    from vvtvlib.station.api import StationStatus

THERMAL_ROOT = Path("/sys/class/thermal")
# Zone types that describe the CPU package; other zones (battery, wifi) are not the CPU.
_CPU_ZONES = ("x86_pkg_temp", "cpu", "soc", "coretemp", "k10temp", "package", "acpitz")


def cpu_temperature(thermal_root: Path = THERMAL_ROOT) -> tuple[float | None, str | None]:
    """Hottest CPU reading in °C and where it came from; ``(None, None)`` when unreadable."""
    readings: list[tuple[float, str]] = []
    for zone in sorted(thermal_root.glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text().strip()
            milli = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        if any(k in kind.lower() for k in _CPU_ZONES):
            readings.append((milli / 1000.0, f"{zone}/temp ({kind})"))
    if not readings:
        try:
            import psutil

            sensors = psutil.sensors_temperatures() if hasattr(psutil, "sensors_temperatures") \
                else {}
        except (OSError, RuntimeError):
            sensors = {}
        for name, entries in (sensors or {}).items():
            if any(k in name.lower() for k in _CPU_ZONES):
                readings += [(e.current, f"psutil:{name}") for e in entries
                             if e.current is not None]
    if not readings:
        return None, None
    return max(readings)


def disk_free_pct(paths: list[Path]) -> tuple[float, str]:
    """The lowest free share among the filesystems of ``paths`` (the station and its vault)."""
    worst: tuple[float, str] | None = None
    for path in paths:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        usage = shutil.disk_usage(probe)
        pct = 100.0 * usage.free / usage.total if usage.total else 0.0
        if worst is None or pct < worst[0]:
            worst = (pct, str(path))
    assert worst is not None
    return worst


def database_health(data_dir: Path) -> dict[str, str]:
    """``PRAGMA integrity_check`` of every ``data/*.sqlite``: "ok" or the first problem."""
    from vvtvlib.vault.sqlite import integrity_check

    out = {}
    for db in sorted(data_dir.glob("*.sqlite")):
        problems = integrity_check(db)
        out[db.name] = "ok" if not problems else "; ".join(problems[:3])
    return out


def signing_key_state(layout: StationLayout) -> str:
    from vvtvlib.core.errors import VVTVError
    from vvtvlib.vault.minisign import load_secret_key

    try:
        load_secret_key(layout.foundation_key)
    except VVTVError as exc:
        return exc.message
    return "ok"


def measure(layout: StationLayout, status: StationStatus) -> Measurements:
    """All pre-check readings from the station status plus the host."""
    pct, where = disk_free_pct([layout.root, layout.vault])
    temp, source = cpu_temperature()
    return Measurements(
        queue_buffer_s=float(status.queue_buffer_s or 0.0),
        workers_paused={w: bool(status.paused.get(w, False)) for w in WORKERS},
        queue_frozen=status.queue_frozen,
        encoder_running=status.encoder_running,
        encoder_uptime_s=float(status.encoder_uptime_s),
        encoder_restarts=int(status.encoder_restarts or 0),
        segment_age_s=None if status.segment_age_s is None else float(status.segment_age_s),
        databases=database_health(layout.data),
        disk_free_pct=pct, disk_path=where, cpu_temp_c=temp, cpu_temp_source=source,
        signing_key=signing_key_state(layout),
        extra={"in_progress": status.in_progress},
    )


def selection_seeds(layout: StationLayout) -> dict[str, Any]:
    """The seeds that drove programme selection: the station seed from ``station.toml`` and
    any seed table the plans database keeps."""
    from vvtvlib.core.config import read_toml

    seeds: dict[str, Any] = {}
    station_toml = layout.configs / "station.toml"
    if station_toml.exists():
        seed = read_toml(station_toml).get("station", {}).get("seed")
        if seed is not None:
            seeds["station"] = seed
    plans = layout.db("plans")
    if plans.exists():
        with closing(sqlite3.connect(f"file:{plans}?mode=ro", uri=True, timeout=10)) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            for table in ("selection_seeds", "seeds"):
                if table in tables:
                    for name, value in conn.execute(f"SELECT * FROM {table}").fetchall():
                        seeds[str(name)] = value
            if "plans" in tables:
                cols = {r[1] for r in conn.execute("PRAGMA table_info(plans)")}
                if "seed" in cols:
                    seeds["plans"] = {str(p): s for p, s in conn.execute(
                        "SELECT plan_id, seed FROM plans WHERE seed IS NOT NULL ORDER BY plan_id")}
    return seeds


def item_clip(layout: StationLayout, item_id: str) -> Path | None:
    """The mezzanine file of ``item_id`` (from ``plans.items``), if known."""
    plans = layout.db("plans")
    if plans.exists():
        with closing(sqlite3.connect(f"file:{plans}?mode=ro", uri=True, timeout=10)) as conn:
            try:
                row = conn.execute("SELECT path FROM items WHERE item_id = ?",
                                   (item_id,)).fetchone()
            except sqlite3.OperationalError:
                row = None
        if row:
            return layout.root / row[0]
    found = sorted(layout.ready.glob(f"{item_id}.*"))
    return found[0] if found else None
