"""A small signed lab snapshot built with the vault API (no station needed), and the clean-up
that takes immutability flags off again so pytest can remove its temporary folders."""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from vvtvlib.core.layout import StationLayout
from vvtvlib.guardian.flags import set_immutable
from vvtvlib.vault.minisign import generate_keypair, sign_file
from vvtvlib.vault.schema import build_manifest, write_manifest
from vvtvlib.vault.snapshot import write_archive
from vvtvlib.vault.sqlite import table_digests

STAMP = "2026-01-01_0000Z"


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
    rnd = __import__("random").Random(seed)
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
    import hashlib

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

    def status(self) -> dict[str, object]:
        return {"up": self.running, "paused": {"planner": False}, "queue_frozen": False,
                "playing": {"item_id": "item_1"} if self.running else None}

    def playout_mark(self) -> int:
        return 0

    def first_playout(self, mark: int, timeout_s: float) -> dict[str, object] | None:
        return {"item_id": "item_1", "offset_s": 12.0} if self.running else None


def locked_lab(root: Path, **kw: object) -> tuple[LabSnapshot, FakeStation]:
    """A lab snapshot after lockdown (no guardian process)."""
    from vvtvlib.hibernation import LockdownOptions, lockdown

    snap = make_lab_snapshot(root)
    station = FakeStation()
    report = lockdown(snap.layout, LockdownOptions(guardian=False, **kw),  # type: ignore[arg-type]
                      station=station)
    assert report.ok, report.to_dict()
    return snap, station
