"""``station init``: provision a lab station tree with media, databases, configs and keys."""

from __future__ import annotations

import json
import random
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.errors import UsageError
from vvtvlib.core.layout import StationLayout
from vvtvlib.media.clips import ClipSpec, make_clip, plan_clips
from vvtvlib.media.ffmpeg import ffmpeg_exe, ffmpeg_version
from vvtvlib.vault.manifest import sha256_file
from vvtvlib.vault.minisign import generate_keypair

from . import seedrows
from .config import PROFILES
from .db import transaction
from .schema import ALL_DBS, create
from .state import ControlStore, Position, initial_values

# observer(stage, done, total, detail): "clips", "filler", "databases", "keys"
Observer = Callable[[str, int, int, str], None]

MEZZANINE_DIR = "mezzanine"
FILLER_DIR = "filler"
QUEUE_MIN_S = 3600 + 300  # "at least one hour" with a margin for what airs during a test
NGINX_TEMPLATE = "nginx-rtmp.conf.template"

RITUAL_TOML = {
    "prechecks": {"queue_min_buffer_s": 3600, "encoder_stable_s": 60, "disk_free_min_pct": 15,
                  "cpu_temp_max_c": 80},
    "freeze": {"wait_empty_timeout_s": 600},
}


def lib_version() -> str:
    try:
        from vvtvlib import __version__

        return __version__
    except ImportError:  # an editable install made before __init__.py existed
        from importlib.metadata import version

        return version("vvtvlib")


def _noop(stage: str, done: int, total: int, detail: str) -> None:
    pass


def repo_template() -> Path:
    """The nginx-rtmp template shipped in ``deploy/nginx/`` of the source tree."""
    return Path(__file__).resolve().parents[2] / "deploy" / "nginx" / NGINX_TEMPLATE


def _check_root(layout: StationLayout, force: bool) -> None:
    root = layout.root
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory", path=root)
    if root.exists() and any(root.iterdir()):
        if not force:
            raise UsageError(f"{root} is not empty; use --force to provision over it", path=root)
        from .runtime import supervisor_alive

        if supervisor_alive(layout):
            raise UsageError(f"the station at {root} is running; bring it down first", path=root)
        # Only the station's own trees are removed: a wrong --root must not wipe a home dir.
        for name in StationLayout.TREES:
            target = root / name
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.exists():
                shutil.rmtree(target)


def _sha256(path: Path) -> str:
    return sha256_file(path)[0]


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def write_configs(layout: StationLayout, station_id: str, profile: str, seed: int,
                  media: dict[str, int]) -> None:
    _write(layout.configs / "station.toml", tomli_w.dumps({
        "station": {"id": station_id, "name": "VVTV Lab", "profile": profile, "seed": seed},
        "media": media,
        "hls": {"list_size": 10, "playlist": "main.m3u8"},
        "http": {"host": "127.0.0.1", "port": 0, "nginx_http_port": 0, "nginx_rtmp_port": 0},
        "workers": {"planner_interval_s": 4.0, "realizer_interval_s": 2.0,
                    "discovery_interval_s": 6.0, "realizer_job_s": 2.0,
                    "queue_target_s": QUEUE_MIN_S, "renditions_keep": 12},
    }))
    _write(layout.configs / "ritual.toml", tomli_w.dumps(RITUAL_TOML))
    _write(layout.configs / "business_logic.toml", tomli_w.dumps({
        "selection": {"seed": seed, "strategy": "weighted-rotation", "repeat_cooldown_s": 900,
                      "min_score": 0.3},
        "economy": {"currency": "EUR", "transcode_cents_per_min": 4,
                    "storage_cents_per_gb_month": 2, "budget_alert_pct": 80},
        "discovery": {"sources": ["feed://river", "feed://atlas"], "hold_after_revival_h": 24},
    }))
    template = repo_template()
    if template.exists():
        shutil.copyfile(template, layout.configs / NGINX_TEMPLATE)


def write_bin(layout: StationLayout) -> None:
    """The seed's operator scripts, as thin wrappers over ``vvtvctl``."""
    scripts = {
        "selfcheck.sh": 'exec vvtvctl status --root "$VVTV_ROOT" "$@"\n',
        "m1_shutdown_ritual.sh": 'exec vvtvctl ritual --root "$VVTV_ROOT" "$@"\n',
        "lockdown.sh": 'exec vvtvctl lockdown --root "$VVTV_ROOT" "$@"\n',
        "resume.sh": 'exec vvtvctl resume --root "$VVTV_ROOT" "$@"\n',
    }
    for name, body in scripts.items():
        _write(layout.bin / name, "#!/bin/sh\nset -eu\n: \"${VVTV_ROOT:=" + str(layout.root)
               + "}\"\n" + body, 0o755)


def make_filler(folder: Path, size_mb: int, seed: int,
                observer: Observer = _noop) -> int:
    """Opaque, incompressible archive media (seeded bytes) so snapshots have real weight."""
    if size_mb <= 0:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(seed))
    chunk_mb = 8
    total = 0
    n_files = (size_mb + chunk_mb - 1) // chunk_mb
    for n in range(n_files):
        mb = min(chunk_mb, size_mb - n * chunk_mb)
        path = folder / f"archive-{n:04d}.ts"
        with path.open("wb") as fh:
            for _ in range(mb):
                fh.write(rng.bytes(1 << 20))
        total += mb << 20
        observer("filler", n + 1, n_files, path.name)
    return total


def seed_databases(layout: StationLayout, items: list[seedrows.ItemRow], seed: int
                   ) -> dict[str, int]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for name, ddl in ALL_DBS.items():
        create(layout.db(name), ddl)
    slot_rows = seedrows.slots(now)
    slot_ids = [s[0] for s in slot_rows]
    plan_rows = seedrows.plans(rng, items, slot_ids, now, count=max(24, 4 * len(items)))
    queue_rows = seedrows.queue(items, plan_rows, slot_ids, now, QUEUE_MIN_S)
    created = utc_iso(now)
    with transaction(layout.db("plans")) as c:
        c.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                      [(i.item_id, i.title, i.pattern, i.path, i.sha256, i.bytes, i.duration_s,
                        i.width, i.height, i.fps, created) for i in items])
        c.executemany("INSERT INTO slots VALUES (?,?,?,?)", slot_rows)
        c.executemany("INSERT INTO plans VALUES (?,?,?,?,?,?,?)", plan_rows)
        c.executemany("INSERT INTO discoveries(source, title, score, status, found_utc) "
                      "VALUES (?,?,?,?,?)", seedrows.discoveries(rng, now))
    with transaction(layout.db("queue")) as c:
        c.executemany("INSERT INTO queue VALUES (?,?,?,?,?,?,?)", queue_rows)
    with transaction(layout.db("metrics")) as c:
        c.executemany("INSERT INTO samples(ts_utc, name, value, labels) VALUES (?,?,?,?)",
                      seedrows.metric_samples(rng, now))
        c.executemany("INSERT INTO jobs(worker, kind, started_utc, finished_utc, status, "
                      "detail) VALUES (?,?,?,?,?,?)", seedrows.jobs(rng, now))
    with transaction(layout.db("economy")) as c:
        c.executemany("INSERT INTO accounts(account, monthly_cents) VALUES (?,?)",
                      seedrows.ACCOUNTS)
        c.executemany("INSERT INTO ledger(ts_utc, account, kind, amount_cents, ref) "
                      "VALUES (?,?,?,?,?)", seedrows.ledger(rng, now))
    first = queue_rows[0]
    store = ControlStore(layout)
    store.set(initial_values(Position(first[0], first[1], 0.0, first[3], first[2])),
              command="init")
    return {"items": len(items), "plans": len(plan_rows), "queue": len(queue_rows),
            "queue_seconds": int(sum(q[4] for q in queue_rows))}


@dataclass(frozen=True)
class Provisioned:
    """What ``init_station`` made: ids, counts, sizes, paths (``--json``: ``to_dict``)."""

    root: str
    station_id: str
    profile: str
    seed: int
    items: tuple[str, ...]
    clip_seconds: int
    queue_entries: int
    queue_seconds: int
    plans: int
    filler_bytes: int
    bytes: int
    foundation_key: str
    foundation_pub: str
    key_id: str
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["items"] = list(self.items)
        return out


def init_station(root: str | Path, profile: str = "embedded", size_mb: int = 0, seed: int = 1,
                 force: bool = False, observer: Observer | None = None, *,
                 items: int = 6, clip_seconds: int = 30, clip_cache: str | Path | None = None
                 ) -> Provisioned:
    """Provision a station at ``root``; returns a summary (ids, counts, sizes, paths)."""
    started = time.monotonic()
    obs = observer or _noop
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r} (choose {' or '.join(PROFILES)})")
    if size_mb < 0 or items < 2 or clip_seconds < 4:
        raise UsageError("--size-mb must be >= 0, items >= 2 and clips >= 4 s long")
    layout = StationLayout.at(root)
    _check_root(layout, force)
    exe = ffmpeg_exe()  # fail early, before writing anything, when FFmpeg is missing
    for d in layout.skeleton():
        d.mkdir(parents=True, exist_ok=True)
    for d in (layout.data, layout.vault, layout.keys):
        d.chmod(0o700)
    station_id = f"vvtv-{secrets.token_hex(4)}"
    media = {"items": items, "clip_seconds": clip_seconds, "width": 320, "height": 180,
             "fps": 15, "crf": 30, "segment_s": 2}
    write_configs(layout, station_id, profile, seed, media)
    write_bin(layout)

    specs: list[ClipSpec] = plan_clips(items, seconds=clip_seconds, width=media["width"],
                                       height=media["height"], fps=media["fps"],
                                       gop_s=media["segment_s"], crf=media["crf"], seed=seed)
    rng = random.Random(seed)
    rows: list[seedrows.ItemRow] = []
    obs("clips", 0, len(specs), "")
    for n, spec in enumerate(specs, start=1):
        path = make_clip(spec, layout.ready / MEZZANINE_DIR / f"{spec.item_id}.mp4",
                         cache=clip_cache)
        rows.append(seedrows.ItemRow(
            spec.item_id, seedrows.title(rng), spec.pattern,
            str(path.relative_to(layout.root)), _sha256(path), path.stat().st_size,
            float(spec.seconds), spec.width, spec.height, spec.fps))
        obs("clips", n, len(specs), spec.item_id)
    filler = make_filler(layout.ready / FILLER_DIR, size_mb, seed, obs)

    obs("databases", 0, 1, "")
    counts = seed_databases(layout, rows, seed)
    obs("databases", 1, 1, "")

    obs("keys", 0, 1, "")
    pub = generate_keypair(layout.foundation_key, comment=f"VVTV foundation key {station_id}",
                           overwrite=True)
    layout.trusted_keys.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(layout.foundation_pub, layout.trusted_keys / "foundation_ed25519.pub")
    obs("keys", 1, 1, pub.id_hex)

    versions = {"vvtvlib": lib_version(), "ffmpeg": ffmpeg_version(exe),
                "created_utc": utc_iso(), "station_id": station_id, "profile": profile}
    _write(layout.system / "versions.json", json.dumps(versions, indent=2, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in layout.root.rglob("*") if p.is_file())
    return Provisioned(
        root=str(layout.root), station_id=station_id, profile=profile, seed=seed,
        items=tuple(r.item_id for r in rows), clip_seconds=clip_seconds,
        queue_entries=counts["queue"], queue_seconds=counts["queue_seconds"],
        plans=counts["plans"], filler_bytes=filler, bytes=total,
        foundation_key=str(layout.foundation_key), foundation_pub=str(layout.foundation_pub),
        key_id=pub.id_hex, elapsed_s=round(time.monotonic() - started, 3))
