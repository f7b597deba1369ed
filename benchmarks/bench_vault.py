"""Vault benchmark: our snapshot writer and restorer side by side with the seed's command and
peers, on the same generated tree, in one run.

    python benchmarks/bench_vault.py --size-mb 1024 --seed-size-mb 200 \\
        --out reports/bench/vault.json

Runs (each in its own process; time and peak RSS measured around it, page cache warm):
  ours write     consistent SQLite copies + 3 tar.zst archives (one pass, hashed) + manifest
  ours restore   verify every archive's sha256 + safe restore with per-file hashes
  tar zstd -3    `tar -I 'zstd -T0 -3' -cf` (3 archives) then `sha256sum` of every file
  tar restore    `tar -I zstd -xf` then `sha256sum -c`
  restic         `restic backup` / `restic restore` to a local repository (when installed)
  seed           `tar -I 'zstd -19' -cf` exactly as the seed runs it, on the smaller seed tree,
                 next to ours on that same tree (speed ratio and size difference)
"""

from __future__ import annotations

import argparse
import json
import os
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
sys.path.insert(0, str(HERE))

from _tree import make_tree, tree_bytes  # noqa: E402

ARCHIVES = {  # archive -> (selection relative to the station root) as the ritual writes them
    "snapshot_db.tar.zst": ["data"],
    "snapshot_system.tar.zst": ["system"],
    "snapshot_data.tar.zst": ["storage/ready", "broadcast/hls"],
}
SEED = ("tar -I 'zstd -19' -cf {out}/snapshot_db.tar.zst -C {root}/data . && "
        "tar -I 'zstd -19' -cf {out}/snapshot_system.tar.zst -C {root}/system . && "
        "tar -I 'zstd -19' -cf {out}/snapshot_data.tar.zst -C {root} storage broadcast")
TAR3 = ("tar -I 'zstd -T0 -3' -cf {out}/snapshot_db.tar.zst -C {root} data && "
        "tar -I 'zstd -T0 -3' -cf {out}/snapshot_system.tar.zst -C {root} system && "
        "tar -I 'zstd -T0 -3' -cf {out}/snapshot_data.tar.zst -C {root} storage broadcast && "
        "cd {root} && find data system storage broadcast -type f -print0 | "
        "xargs -0 sha256sum > {out}/SHA256SUMS")
TAR3_RESTORE = ("mkdir -p {target} && for a in {out}/*.tar.zst; do "
                "tar -I zstd -xf \"$a\" -C {target} || exit 1; done && "
                "cd {target} && sha256sum -c --quiet {out}/SHA256SUMS")

_MEASURE = r"""
import json, resource, subprocess, sys, time
cmd = json.loads(sys.argv[1]); env = json.loads(sys.argv[2]) or None
t = time.perf_counter()
rc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
dt = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "seconds": dt, "peak_rss_mib": ru.ru_maxrss / 1024,
                  "cpu_seconds": ru.ru_utime + ru.ru_stime}))
"""


REPEAT = 1


def measure(cmd: list[str], env: dict[str, str] | None = None,
            reset: Any = None, repeat: int | None = None) -> dict[str, Any]:
    """Run ``cmd`` under a small parent that reports wall time and the peak RSS of the
    process tree it waited for (getrusage of children keeps the largest descendant).
    With ``--repeat N`` the fastest of N runs is kept (``reset`` runs before each)."""
    best: dict[str, Any] | None = None
    for _ in range(repeat or REPEAT):
        if reset is not None:
            reset()
        out = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps(cmd),
                              json.dumps(env)], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout)
        if result["rc"] != 0:
            raise SystemExit(f"benchmark step failed: {' '.join(cmd)}\n{result}")
        if best is None or result["seconds"] < best["seconds"]:
            best = {**result, "peak_rss_mib": max(result["peak_rss_mib"],
                                                  (best or result)["peak_rss_mib"])}
    assert best is not None
    return best


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def clean(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# ----------------------------------------------------------- our writer/restorer (children)


def _ours_write(root: Path, out: Path) -> None:
    from vvtvlib.vault import ArchiveSpec, build_manifest, snapshot_databases, write_archives
    from vvtvlib.vault.schema import write_manifest
    staging = out / ".db-staging"
    specs = [ArchiveSpec(out / name, staging if name == "snapshot_db.tar.zst" else root,
                         tuple(selection),
                         prepare=(lambda: snapshot_databases(root / "data", staging))
                         if name == "snapshot_db.tar.zst" else None)
             for name, selection in ARCHIVES.items()]
    specs.sort(key=lambda s: s.prepare is None)  # the database copy starts first
    records = write_archives(specs)
    shutil.rmtree(staging)
    manifest = build_manifest(station_id="bench", stamp="bench", generation=1,
                              archives={k: r.to_manifest() for k, r in records.items()})
    write_manifest(out / "last_manifest.json", manifest)


def _ours_restore(out: Path, target: Path) -> None:
    from vvtvlib.vault.restore import restore_archives
    from vvtvlib.vault.schema import load_manifest
    manifest = load_manifest(out / "last_manifest.json")
    restore_archives([(out / name, rec) for name, rec in sorted(manifest.archives.items())],
                     target)


# ----------------------------------------------------------- the runs


def run_ours(root: Path, work: Path, size: int, label: str) -> tuple[dict, dict]:
    out = work / f"ours-{label}"
    w = measure([sys.executable, __file__, "--_write", str(root), str(out)],
                reset=lambda: clean(out))
    archives = sum((out / n).stat().st_size for n in ARCHIVES)
    write = {"name": f"ours write ({label})", "tree_bytes": size, "output_bytes": archives, **w}
    target = work / f"ours-{label}-restore"
    r = measure([sys.executable, __file__, "--_restore", str(out), str(target)],
                reset=lambda: shutil.rmtree(target, ignore_errors=True))
    restore = {"name": f"ours verify+restore ({label})", "tree_bytes": size, **r}
    shutil.rmtree(target, ignore_errors=True)
    return write, restore


def run_seed(root: Path, work: Path, size: int) -> dict:
    out = work / "seed"
    # once: at about 1-3 MB/s it is the long pole of the run
    r = measure(sh(SEED.format(out=out, root=root)), reset=lambda: clean(out), repeat=1)
    return {"name": "seed tar -I 'zstd -19'", "tree_bytes": size,
            "output_bytes": dir_bytes(out), **r}


def run_tar3(root: Path, work: Path, size: int) -> tuple[dict, dict]:
    out = work / "tar3"
    w = measure(sh(TAR3.format(out=out, root=root)), reset=lambda: clean(out))
    archives = sum((out / n).stat().st_size for n in ARCHIVES)
    write = {"name": "tar -I 'zstd -T0 -3' + sha256sum", "tree_bytes": size,
             "output_bytes": archives, **w}
    target = work / "tar3-restore"
    r = measure(sh(TAR3_RESTORE.format(out=out, target=target)),
                reset=lambda: shutil.rmtree(target, ignore_errors=True))
    shutil.rmtree(target, ignore_errors=True)
    return write, {"name": "tar -I zstd -xf + sha256sum -c", "tree_bytes": size, **r}


def run_restic(root: Path, work: Path, size: int) -> tuple[dict, dict] | None:
    restic = shutil.which("restic")
    if not restic:
        return None
    repo = work / "restic-repo"
    env = {**os.environ, "RESTIC_PASSWORD": "vvtv-bench", "RESTIC_REPOSITORY": str(repo),
           "RESTIC_CACHE_DIR": str(work / "restic-cache")}

    def fresh_repo() -> None:  # every backup is a first backup, as a snapshot is
        clean(repo)
        shutil.rmtree(work / "restic-cache", ignore_errors=True)
        subprocess.run([restic, "init"], env=env, check=True, capture_output=True)

    paths = [str(root / p) for p in ("data", "system", "storage", "broadcast")]
    b = measure([restic, "backup", "--quiet", *paths], env, reset=fresh_repo)
    backup = {"name": "restic backup", "tree_bytes": size, "output_bytes": dir_bytes(repo), **b}
    target = work / "restic-restore"
    r = measure([restic, "restore", "latest", "--target", str(target)], env,
                reset=lambda: shutil.rmtree(target, ignore_errors=True))
    shutil.rmtree(target, ignore_errors=True)
    return backup, {"name": "restic restore", "tree_bytes": size, **r}


def _rate(run: dict) -> float:
    return run["tree_bytes"] / run["seconds"] / 1e6


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "missing"


def report(runs: list[dict], cmp: dict[str, Any], args: argparse.Namespace,
           sizes: dict[str, int]) -> dict:
    for r in runs:
        r["mb_per_s"] = round(_rate(r), 1)
        r["seconds"] = round(r["seconds"], 3)
        r["peak_rss_mib"] = round(r["peak_rss_mib"], 1)
        r["cpu_seconds"] = round(r["cpu_seconds"], 2)
        if "output_bytes" in r:
            r["ratio"] = round(r["output_bytes"] / r["tree_bytes"], 4)
    return {
        "command": "python benchmarks/bench_vault.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "zstd": _version(["zstd", "--version"]),
                    "tar": _version(["tar", "--version"]),
                    "restic": _version(["restic", "version"])},
        "trees": sizes, "runs": runs, "comparisons": cmp,
        "notes": "MB = 10^6 bytes of input tree; page cache warm; each run in its own process; "
                 "peak RSS is the largest process of the run.",
    }


def markdown(rep: dict) -> str:
    lines = [f"`{rep['command']}` on {rep['machine']['cpus']} cores "
             f"({rep['machine']['platform']})", "",
             "| run | tree MB | seconds | MB/s | output MB | ratio | peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rep["runs"]:
        out_mb = f"{r['output_bytes'] / 1e6:.1f}" if "output_bytes" in r else ""
        lines.append(f"| {r['name']} | {r['tree_bytes'] / 1e6:.1f} | {r['seconds']} | "
                     f"{r['mb_per_s']} | {out_mb} | {r.get('ratio', '')} | "
                     f"{r['peak_rss_mib']} |")
    lines += ["", "| comparison | value | target | met |", "|---|---:|---|---|"]
    for key, c in rep["comparisons"].items():
        lines.append(f"| {key} | {c['value']} | {c['target']} | {'yes' if c['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mb", type=float, default=1024)
    p.add_argument("--seed-size-mb", type=float, default=200,
                   help="tree for the seed's slow zstd -19 command (>= 200 MB by default)")
    p.add_argument("--allow-small-seed", action="store_true",
                   help="allow --seed-size-mb below 200 (quick runs, CI)")
    p.add_argument("--skip-seed", action="store_true")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    p.add_argument("--out", type=Path, default=Path("reports/bench/vault.json"))
    p.add_argument("--repeat", type=int, default=1,
                   help="run each step N times and keep the fastest (shared machines)")
    p.add_argument("--_write", nargs=2, type=Path, help=argparse.SUPPRESS)
    p.add_argument("--_restore", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._write:
        return _ours_write(*args._write)
    if args._restore:
        return _ours_restore(*args._restore)
    if args.seed_size_mb < 200 and not args.allow_small_seed and not args.skip_seed:
        p.error("--seed-size-mb below 200 needs --allow-small-seed")
    global REPEAT
    REPEAT = max(1, args.repeat)
    work = args.work or Path(tempfile.mkdtemp(prefix="vvtv-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"generating trees in {work} ...", file=sys.stderr)
    big = make_tree(work / f"tree-{args.size_mb:g}", args.size_mb)
    sizes = {"main": tree_bytes(big)}
    runs: list[dict] = []
    cmp: dict[str, Any] = {}

    def note(run: dict) -> dict:
        print(f"  {run['name']}: {run['seconds']:.2f} s, {_rate(run):.1f} MB/s, "
              f"peak {run['peak_rss_mib']:.0f} MiB", file=sys.stderr)
        runs.append(run)
        return run

    ours_w, ours_r = (note(r) for r in run_ours(big, work, sizes["main"], "main"))
    tar_w, tar_r = (note(r) for r in run_tar3(big, work, sizes["main"]))
    restic = run_restic(big, work, sizes["main"])
    cmp["write vs tar zstd -T0 -3 + sha256sum"] = _ratio(_rate(ours_w) / _rate(tar_w), 1.0)
    if restic:
        rb, rr = (note(r) for r in restic)
        cmp["write vs restic backup"] = _ratio(_rate(ours_w) / _rate(rb), 2.0)
        cmp["verify+restore vs restic restore"] = _ratio(_rate(ours_r) / _rate(rr), 1.5)
    cmp["write peak RSS MiB"] = {"value": round(ours_w["peak_rss_mib"], 1), "target": "< 300",
                                 "met": ours_w["peak_rss_mib"] < 300}
    cmp["restore peak RSS MiB"] = {"value": round(ours_r["peak_rss_mib"], 1), "target": "< 300",
                                   "met": ours_r["peak_rss_mib"] < 300}
    if not args.skip_seed:
        small = make_tree(work / f"tree-{args.seed_size_mb:g}", args.seed_size_mb, seed=11)
        sizes["seed"] = tree_bytes(small)
        ours_s, _ = run_ours(small, work, sizes["seed"], "seed tree")
        note(ours_s)
        seed = note(run_seed(small, work, sizes["seed"]))
        cmp["write vs seed zstd -19 (speed)"] = _ratio(_rate(ours_s) / _rate(seed), 100.0)
        extra = ours_s["output_bytes"] / seed["output_bytes"] - 1
        cmp["archives vs seed zstd -19 (size)"] = {
            "value": f"{extra * 100:+.2f} %", "target": "<= +5 %", "met": extra <= 0.05}
    rep = report(runs, cmp, args, sizes)
    rep["total_seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rep, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(rep))
    print(markdown(rep))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


def _ratio(value: float, target: float) -> dict[str, Any]:
    return {"value": f"{value:.2f}x", "target": f">= {target:g}x", "met": value >= target}


if __name__ == "__main__":
    main()
