"""A deterministic mixed station tree for vault benchmarks: about 60 % incompressible media
(``storage/ready``, ``broadcast/hls``), 30 % SQLite in WAL mode (``data/``) and 10 % text
(``system/configs``, ``system/logs``)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

MB = 1 << 20
_WORDS = ["news", "weather", "sports", "music", "film", "archive", "night", "morning",
          "drama", "kids", "talk", "live", "replay", "promo", "jingle", "station", "vvtv",
          "planner", "realizer", "discovery", "queue", "slot", "item", "segment", "bitrate",
          "encoder", "preset", "viewer"]


def _media(root: Path, total: int, rng: np.random.Generator) -> None:
    ready = root / "storage" / "ready"
    hls = root / "broadcast" / "hls"
    ready.mkdir(parents=True, exist_ok=True)
    hls.mkdir(parents=True, exist_ok=True)
    hls_bytes = total // 10
    i = 0
    left = total - hls_bytes
    while left > 0:
        size = int(min(left, rng.integers(4 * MB, 24 * MB)))
        (ready / f"item_{i:04d}.mp4").write_bytes(rng.bytes(size))
        left -= size
        i += 1
    j = 0
    while hls_bytes > 0:
        size = int(min(hls_bytes, 1 * MB))
        (hls / f"seg_{j:05d}.ts").write_bytes(rng.bytes(size))
        hls_bytes -= size
        j += 1
    (hls / "main.m3u8").write_text("#EXTM3U\n#EXT-X-VERSION:6\n" + "".join(
        f"#EXTINF:4.0,\nseg_{k:05d}.ts\n" for k in range(j)))


def _sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(_WORDS[k] for k in rng.integers(0, len(_WORDS), n))


def _databases(root: Path, total: int, rng: np.random.Generator) -> None:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    names = ("plans", "queue", "metrics", "economy")
    for idx, name in enumerate(names):
        path = data / f"{name}.sqlite"
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, ts TEXT, "
                     "kind TEXT, item_id TEXT, score REAL, amount INTEGER, note TEXT, "
                     "payload BLOB)")
        conn.execute("CREATE INDEX IF NOT EXISTS rows_kind ON rows(kind, ts)")
        target = total // len(names)
        row_id = 0
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        while conn.execute("PRAGMA page_count").fetchone()[0] * page < target:
            batch = []
            for _ in range(2000):
                row_id += 1
                batch.append((row_id, f"2026-01-{1 + row_id % 28:02d}T{row_id % 24:02d}:00:00Z",
                               _WORDS[row_id % len(_WORDS)], f"item-{rng.integers(0, 5000):05d}",
                               float(rng.random()), int(rng.integers(0, 10**6)),
                               _sentence(rng, 12), rng.bytes(24)))
            conn.executemany("INSERT INTO rows VALUES (?,?,?,?,?,?,?,?)", batch)
            conn.commit()
            if idx == 0 and row_id == 2000:
                conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


def _text(root: Path, total: int, rng: np.random.Generator) -> None:
    configs = root / "system" / "configs"
    logs = root / "system" / "logs"
    configs.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    for name in ("station", "ritual", "business_logic"):
        (configs / f"{name}.toml").write_text(
            f'[{name}]\nseed = 42\nname = "{name}"\nthreshold = 0.8\n')
    per_log = max(1, total // 4)
    for k in range(4):
        with (logs / f"worker_{k}.jsonl").open("w") as fh:
            written = 0
            n = 0
            while written < per_log:
                line = json.dumps({"ts": f"2026-01-01T00:{n % 60:02d}:{n % 60:02d}Z",
                                   "service": f"worker_{k}", "severity": "INFO",
                                   "msg": _sentence(rng, 8), "n": n,
                                   "trace_id": rng.bytes(8).hex()}) + "\n"
                fh.write(line)
                written += len(line)
                n += 1


def make_tree(root: str | Path, size_mb: float, seed: int = 7) -> Path:
    """Create (or reuse, when its marker matches) a mixed tree of about ``size_mb`` MB."""
    root = Path(root)
    marker = root / ".tree.json"
    want = {"size_mb": size_mb, "seed": seed, "version": 2}
    if marker.exists() and json.loads(marker.read_text()) == want:
        return root
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    total = int(size_mb * MB)
    _media(root, int(total * 0.6), rng)
    _databases(root, int(total * 0.3), rng)
    _text(root, int(total * 0.1), rng)
    marker.write_text(json.dumps(want))
    return root


def tree_bytes(root: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(root).rglob("*")
               if p.is_file() and p.name != ".tree.json")
