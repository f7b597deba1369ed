"""Ritual benchmark: wall time per step of the real shutdown ritual on a live lab station,
the share spent hashing/compressing versus waiting on the station, and the snapshot step
next to the vault writer alone (and the seed's commands) on the same data, as ratios.

    python benchmarks/bench_ritual.py --size-mb 1024 --out reports/bench/ritual.json

Target (issue "Speed"): the snapshot step stays within 1.2x of the vault writer on the same
data, i.e. the ritual makes no extra pass over the data.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from vvtvlib.core.layout import StationLayout  # noqa: E402
from vvtvlib.ritual import RitualOptions, run_ritual  # noqa: E402
from vvtvlib.ritual.archives import DATA_ARCHIVE, DB_ARCHIVE, SYSTEM_ARCHIVE  # noqa: E402
from vvtvlib.ritual.config import load_ritual_config  # noqa: E402
from vvtvlib.station import control  # noqa: E402
from vvtvlib.station.provision import init_station  # noqa: E402
from vvtvlib.station.supervisor import station_down, station_up  # noqa: E402
from vvtvlib.vault.snapshot import write_archive  # noqa: E402
from vvtvlib.vault.sqlite import snapshot_databases  # noqa: E402

TARGET_RATIO = 1.2
# Steps whose time is hashing/compressing/signing, as opposed to waiting on the station.
WORK_STEPS = ("final_frame", "snapshots", "manifest", "verify", "last_transmission", "seal")


def wait_stable(layout: StationLayout, seconds: float, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if control.status(layout).encoder_uptime_s > seconds:
            return
        time.sleep(0.5)
    raise SystemExit("the encoder never became stable")


def ritual_run(layout: StationLayout, stable_s: float) -> dict[str, Any]:
    station_up(layout, timeout_s=120)
    try:
        wait_stable(layout, stable_s + 0.5)
        t0 = time.perf_counter()
        journal = run_ritual(layout, RitualOptions(
            overrides=[f"prechecks.encoder_stable_s={stable_s}"]))
        wall = time.perf_counter() - t0
    finally:
        station_down(layout)
    steps = [{"step": s.name, "seconds": s.duration_s, "waiting_s": s.wait_s,
              "working_s": round(max(0.0, s.duration_s - s.wait_s), 3)} for s in journal.steps]
    snap = journal.step("snapshots")
    assert snap is not None
    return {"wall_s": round(wall, 3), "steps": steps, "snapshot_detail": snap.detail,
            "snapshot_s": snap.duration_s, "snapshot_dir": journal.snapshot_dir}


def writer_alone(layout: StationLayout, work: Path) -> dict[str, Any]:
    """The vault writer on the same trees with the same levels, no ritual around it."""
    cfg = load_ritual_config(layout).snapshot
    stage = work / "stage"
    out = work / "out"
    for p in (stage, out):
        shutil.rmtree(p, ignore_errors=True)
        p.mkdir(parents=True)
    t0 = time.perf_counter()
    snapshot_databases(layout.data, stage)
    db = write_archive(out / DB_ARCHIVE, stage, ["data"], level=cfg.db_level,
                       threads=cfg.threads)
    system = write_archive(out / SYSTEM_ARCHIVE, layout.root, ["system/configs", "system/bin"],
                           level=cfg.system_level, threads=cfg.threads)
    data = write_archive(out / DATA_ARCHIVE, layout.root, ["storage/ready", "broadcast"],
                         level=cfg.data_level, threads=cfg.threads)
    return {"seconds": round(time.perf_counter() - t0, 3),
            "archives": {r.name: {"seconds": round(r.seconds, 3), "size": r.size,
                                  "raw_bytes": r.raw_bytes} for r in (db, system, data)}}


def seed_commands(layout: StationLayout, work: Path) -> dict[str, Any]:
    """The seed's own commands on the same root: ``tar -I 'zstd -19'`` and ``sha256sum``."""
    out = work / "seed"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    root = layout.root
    script = (f"tar -I 'zstd -19 -T0' -cf {out}/snapshot_db.tar.zst -C {root}/data . && "
              f"tar -I 'zstd -19 -T0' -cf {out}/snapshot_system.tar.zst -C {root}/system . && "
              f"tar -I 'zstd -19 -T0' -cf {out}/snapshot_data.tar.zst -C {root} "
              "storage/ready broadcast")
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", script], check=True, capture_output=True)
    tar_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", f"cd {root} && find storage/ready broadcast data system/configs "
                    "-type f -print0 | xargs -0 sha256sum > /dev/null"], check=True)
    return {"tar_zstd19_s": round(tar_s, 3),
            "sha256sum_s": round(time.perf_counter() - t0, 3),
            "bytes": sum(p.stat().st_size for p in out.iterdir())}


def markdown(rep: dict[str, Any]) -> str:
    lines = [f"# Ritual benchmark ({rep['size_mb']} MiB station)", "",
             "| step | seconds | working | waiting |", "|---|---|---|---|"]
    lines += [f"| {s['step']} | {s['seconds']:.2f} | {s['working_s']:.2f} | {s['waiting_s']:.2f} |"
              for s in rep["ritual"]["steps"]]
    r = rep["ratios"]
    lines += ["", f"* hashing/compressing share: {r['work_share']:.0%}, waiting share: "
              f"{r['wait_share']:.0%}",
              f"* snapshot step / vault writer alone: {r['snapshot_vs_writer']:.2f}x "
              f"(target <= {TARGET_RATIO}x: {'PASS' if r['within_target'] else 'FAIL'})"]
    if rep.get("seed"):
        lines.append(f"* seed `tar -I 'zstd -19'` / ritual snapshot step: "
                     f"{r['seed_vs_snapshot']:.2f}x")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="filler media (MiB)")
    parser.add_argument("--items", type=int, default=6)
    parser.add_argument("--stable-s", type=float, default=3.0)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-seed", action="store_true", help="skip the seed's zstd -19 run")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="vvtv-bench-ritual-"))
    root = work / "station"
    init_station(root, size_mb=args.size_mb, items=args.items, force=True)
    layout = StationLayout.at(root)
    ritual = ritual_run(layout, args.stable_s)
    alone = writer_alone(layout, work)
    seed = None if args.no_seed else seed_commands(layout, work)
    total = sum(s["seconds"] for s in ritual["steps"]) or 1.0
    work_s = sum(s["working_s"] for s in ritual["steps"] if s["step"] in WORK_STEPS)
    wait_s = sum(s["waiting_s"] for s in ritual["steps"])
    ratio = ritual["snapshot_s"] / alone["seconds"] if alone["seconds"] else 1.0
    rep = {"size_mb": args.size_mb, "python": platform.python_version(),
           "machine": platform.machine(), "ritual": ritual, "writer_alone": alone, "seed": seed,
           "ratios": {"work_share": round(work_s / total, 3),
                      "wait_share": round(wait_s / total, 3),
                      "snapshot_vs_writer": round(ratio, 3),
                      "within_target": ratio <= TARGET_RATIO,
                      "seed_vs_snapshot": round(seed["tar_zstd19_s"] / ritual["snapshot_s"], 3)
                      if seed else None}}
    text = markdown(rep)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rep, indent=2, default=str))
        args.out.with_suffix(".md").write_text(text)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
