"""Revival benchmark: RTO phase breakdown of a real revival of a ~1 GiB lab station, with
verify+restore next to the vault's own verifier/restorer and the seed's shell commands on
the same snapshot, as ratios.

    python benchmarks/bench_revival.py --size-mb 1024 --out reports/bench/revival.json

Targets (issue "Speed"): the whole revival (verify, restore, integrity checks, first frame and
continuity proof) under 30 s on a 2-core machine (the seed's goal is 30 min), and the
revival's verify+restore within 1.3x of the vault verifier+restorer alone.
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

from vvtvlib.drills.rehearsal import SourceSnapshot, prepare_source  # noqa: E402
from vvtvlib.revival import RevivalOptions, revive  # noqa: E402
from vvtvlib.vault.folder import restore_snapshot, verify_snapshot  # noqa: E402
from vvtvlib.vault.minisign import load_public_keys  # noqa: E402

RTO_GOAL_S = 30.0
RESTORE_RATIO = 1.3


def warm(folder: Path) -> None:
    """Read the archives once so every contender starts from the same page cache."""
    for p in sorted(folder.glob("*.tar.zst")):
        with p.open("rb") as fh:
            while fh.read(1 << 22):
                pass


def vault_alone(src: SourceSnapshot, work: Path) -> dict[str, Any]:
    dest = work / "vault-restore"
    shutil.rmtree(dest, ignore_errors=True)
    t0 = time.perf_counter()
    verified = verify_snapshot(src.snapshot, load_public_keys(src.pubkey))
    t1 = time.perf_counter()
    results = restore_snapshot(verified, dest)
    t2 = time.perf_counter()
    shutil.rmtree(dest, ignore_errors=True)
    return {"verify_s": round(t1 - t0, 3), "restore_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3), "bytes": sum(r.bytes for r in results)}


def seed_commands(src: SourceSnapshot, work: Path) -> dict[str, Any] | None:
    """The seed's way: ``sha256sum -c`` then ``tar -I zstd -xf`` per archive (no signature,
    no per-file check: a lower bound for a restore without verification)."""
    if not shutil.which("zstd") or not shutil.which("sha256sum"):
        return None
    dest = work / "seed-restore"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    t0 = time.perf_counter()
    subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=src.snapshot, check=True)
    for archive in sorted(src.snapshot.glob("snapshot_*.tar.zst")):
        subprocess.run(["tar", "-I", "zstd", "-xf", str(archive), "-C", str(dest)], check=True)
    total = time.perf_counter() - t0
    shutil.rmtree(dest, ignore_errors=True)
    return {"total_s": round(total, 3)}


def revival(src: SourceSnapshot, work: Path) -> dict[str, Any]:
    target = work / "newnode"
    shutil.rmtree(target, ignore_errors=True)
    report = revive(RevivalOptions(snapshots=src.snapshot, target=target, pubkey=src.pubkey,
                                   prove_continuity=True, report_path=work / "report.json",
                                   leave_running=False))
    timings = report.phase_timings()
    return {"rto_s": report.rto_s, "phases": timings,
            "verify_restore_s": round(timings["verify"] + timings["restore"], 3),
            "restored_bytes": report.phase("restore").detail["bytes"],  # type: ignore[union-attr]
            "continuity": (report.continuity or {}).get("metrics")}


def markdown(rep: dict[str, Any]) -> str:
    r, v = rep["revival"], rep["vault_alone"]
    lines = ["| phase | seconds |", "|---|---:|"]
    lines += [f"| {k} | {s:.2f} |" for k, s in r["phases"].items()]
    lines += [f"| **RTO** | **{r['rto_s']:.2f}** (goal < {RTO_GOAL_S:g}) |", "",
              "| verify + restore | seconds | MB/s |", "|---|---:|---:|"]
    mb = r["restored_bytes"] / 1e6
    lines.append(f"| revival | {r['verify_restore_s']:.2f} | {mb / r['verify_restore_s']:.0f} |")
    lines.append(f"| vault verifier + restorer | {v['total_s']:.2f} | {mb / v['total_s']:.0f} |")
    if rep.get("seed"):
        s = rep["seed"]["total_s"]
        lines.append(f"| seed: sha256sum -c + tar -I zstd -xf | {s:.2f} | {mb / s:.0f} |")
    lines.append(f"\nratio revival / vault: {rep['ratios']['revival_over_vault']:.2f} "
                 f"(target <= {RESTORE_RATIO})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mb", type=int, default=1024, help="filler media to add")
    p.add_argument("--items", type=int, default=4)
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    p.add_argument("--out", type=Path, default=Path("reports/bench/revival.json"))
    args = p.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="vvtv-bench-revival-"))
    try:
        t0 = time.perf_counter()
        src = prepare_source(work / "source", items=args.items, clip_seconds=12,
                             size_mb=args.size_mb)
        setup_s = time.perf_counter() - t0
        warm(src.snapshot)
        alone = vault_alone(src, work)
        warm(src.snapshot)
        rev = revival(src, work)
        warm(src.snapshot)
        seed = seed_commands(src, work)
        ratio = rev["verify_restore_s"] / alone["total_s"] if alone["total_s"] else 0.0
        rep = {"benchmark": "revival", "host": platform.node(), "python":
               platform.python_version(), "size_mb": args.size_mb,
               "snapshot_bytes": sum(f.stat().st_size for f in src.snapshot.iterdir()),
               "setup_s": round(setup_s, 1), "ritual_s": src.ritual_s, "revival": rev,
               "vault_alone": alone, "seed": seed,
               "ratios": {"revival_over_vault": round(ratio, 3),
                          "seed_over_revival": round(seed["total_s"] / rev["verify_restore_s"],
                                                     3) if seed else None},
               "targets": {"rto_s": RTO_GOAL_S, "revival_over_vault": RESTORE_RATIO},
               "passed": rev["rto_s"] < RTO_GOAL_S and ratio <= RESTORE_RATIO}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rep, indent=2) + "\n")
        print(markdown(rep))
        return 0 if rep["passed"] else 1
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
