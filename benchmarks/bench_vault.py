"""Vault benchmark: our snapshot writer and restorer side by side with the seed's command and
peers, on the same generated tree, in one run.

    python benchmarks/bench_vault.py --size-mb 1024 --seed-size-mb 200 \\
        --out reports/bench/vault.json

Runs (each in its own process; time and peak RSS measured around it, page cache warm):
  ours write     consistent SQLite copies + 3 tar.zst archives (one pass, hashed) + manifest
                 (`_vault_child.py write`, a process of its own: start-up and imports count)
  ours restore   safe restore, staged: every archive's size checked, its sha256 as it is
                 decompressed (one pass), every file's sha256, flushed before it goes live
  tar zstd -3    `tar -I 'zstd -T0 -3' -cf` (3 archives) then `sha256sum` of every file
  tar restore    `tar -I zstd -xf` then `sha256sum -c`
  restic         `restic backup` / `restic restore` to a local repository (when installed)
  seed           `tar -I 'zstd -19' -cf` exactly as the seed runs it, on the smaller seed tree,
                 next to ours on that same tree (speed ratio and size difference)

Every command is timed until its output is on disk: ours fsyncs its archives and flushes a
restored tree before it returns, so each peer's command ends with `sync`. Every tool runs
``--repeat`` times (default 3), interleaved; each one's median is reported with the range of
its rounds, and each comparison with the range of its per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

CHILD = HERE / "_vault_child.py"  # our writer and restorer, each in its own process
SEED = ("tar -I 'zstd -19' -cf {out}/snapshot_db.tar.zst -C {root}/data . && "
        "tar -I 'zstd -19' -cf {out}/snapshot_system.tar.zst -C {root}/system . && "
        "tar -I 'zstd -19' -cf {out}/snapshot_data.tar.zst -C {root} storage broadcast && sync")
TAR3 = ("tar -I 'zstd -T0 -3' -cf {out}/snapshot_db.tar.zst -C {root} data && "
        "tar -I 'zstd -T0 -3' -cf {out}/snapshot_system.tar.zst -C {root} system && "
        "tar -I 'zstd -T0 -3' -cf {out}/snapshot_data.tar.zst -C {root} storage broadcast && "
        "cd {root} && find data system storage broadcast -type f -print0 | "
        "xargs -0 sha256sum > {out}/SHA256SUMS && sync")
TAR3_RESTORE = ("mkdir -p {target} && for a in {out}/*.tar.zst; do "
                "tar -I zstd -xf \"$a\" -C {target} || exit 1; done && "
                "cd {target} && sha256sum -c --quiet {out}/SHA256SUMS && sync")

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


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` under a small parent that reports wall time and the peak RSS of the
    process tree it waited for (getrusage of children keeps the largest descendant)."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps(cmd), json.dumps(env)],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}\n{result}")
    return result


@dataclass
class Step:
    name: str
    cmd: list[str]
    tree_bytes: int
    reset: Callable[[], Any]
    output: Path | None = None  # measured after the run: the archives or repository
    pattern: str = "*"
    env: dict[str, str] | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    def run(self) -> None:
        self.reset()
        result = measure(self.cmd, self.env)
        if self.output is not None:
            result["output_bytes"] = dir_bytes(self.output, self.pattern)
        self.samples.append(result)

    @property
    def median(self) -> float:
        return statistics.median(s["seconds"] for s in self.samples)

    def record(self) -> dict[str, Any]:
        """The median run (time, CPU, output) with the spread of the rounds and the largest
        peak RSS of any of them."""
        secs = sorted(s["seconds"] for s in self.samples)
        mid = min(self.samples, key=lambda s: abs(s["seconds"] - self.median))
        return {"name": self.name, "tree_bytes": self.tree_bytes, **mid,
                "seconds": self.median, "rounds": len(secs), "min_seconds": secs[0],
                "max_seconds": secs[-1], "all_seconds": [round(x, 3) for x in
                                                        (s["seconds"] for s in self.samples)],
                "peak_rss_mib": max(s["peak_rss_mib"] for s in self.samples)}


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def dir_bytes(path: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in path.rglob(pattern) if p.is_file())


def clean(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# ----------------------------------------------------------- the runs


def ours_steps(root: Path, work: Path, size: int, label: str) -> list[Step]:
    out, target = work / f"ours-{label}", work / f"ours-{label}-restore"
    return [Step(f"ours write ({label})", [sys.executable, str(CHILD), "write", str(root),
                                           str(out)], size, lambda: clean(out), output=out,
                 pattern="*.tar.zst"),
            Step(f"ours verify+restore ({label})", [sys.executable, str(CHILD), "restore",
                                                    str(out), str(target)], size,
                 lambda: shutil.rmtree(target, ignore_errors=True))]


def seed_step(root: Path, work: Path, size: int) -> Step:
    out = work / "seed"
    return Step("seed tar -I 'zstd -19'", sh(SEED.format(out=out, root=root)), size,
                lambda: clean(out), output=out)


def tar3_steps(root: Path, work: Path, size: int) -> list[Step]:
    out, target = work / "tar3", work / "tar3-restore"
    return [Step("tar -I 'zstd -T0 -3' + sha256sum", sh(TAR3.format(out=out, root=root)), size,
                 lambda: clean(out), output=out, pattern="*.tar.zst"),
            Step("tar -I zstd -xf + sha256sum -c",
                 sh(TAR3_RESTORE.format(out=out, target=target)), size,
                 lambda: shutil.rmtree(target, ignore_errors=True))]


def restic_steps(root: Path, work: Path, size: int) -> list[Step]:
    restic = shutil.which("restic")
    if not restic:
        return []
    repo, target = work / "restic-repo", work / "restic-restore"
    env = {**os.environ, "RESTIC_PASSWORD": "vvtv-bench", "RESTIC_REPOSITORY": str(repo),
           "RESTIC_CACHE_DIR": str(work / "restic-cache")}

    def fresh_repo() -> None:  # every backup is a first backup, as a snapshot is
        clean(repo)
        shutil.rmtree(work / "restic-cache", ignore_errors=True)
        subprocess.run([restic, "init"], env=env, check=True, capture_output=True)

    paths = [str(root / p) for p in ("data", "system", "storage", "broadcast")]
    # `sync` after each peer: ours makes its archives and restored trees durable before it
    # returns, so every tool is timed until its output is on disk.
    return [Step("restic backup", sh(f"{restic} backup --quiet {' '.join(paths)} && sync"),
                 size, fresh_repo, output=repo, env=env),
            Step("restic restore", sh(f"{restic} restore latest --target {target} && sync"),
                 size, lambda: shutil.rmtree(target, ignore_errors=True), env=env)]


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
        r["min_seconds"] = round(r["min_seconds"], 3)
        r["max_seconds"] = round(r["max_seconds"], 3)
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
             "| run | tree MB | seconds (median) | min-max s | MB/s | output MB | ratio | "
             "peak RSS MiB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rep["runs"]:
        out_mb = f"{r['output_bytes'] / 1e6:.1f}" if "output_bytes" in r else ""
        spread = f"{r['min_seconds']:.2f}-{r['max_seconds']:.2f}"
        lines.append(f"| {r['name']} | {r['tree_bytes'] / 1e6:.1f} | {r['seconds']} | "
                     f"{spread} | {r['mb_per_s']} | {out_mb} | {r.get('ratio', '')} | "
                     f"{r['peak_rss_mib']} |")
    lines += ["", "| comparison | value (medians) | per round | target | met |",
              "|---|---:|---:|---|---|"]
    for key, c in rep["comparisons"].items():
        lines.append(f"| {key} | {c['value']} | {c.get('rounds', '')} | {c['target']} | "
                     f"{'yes' if c['met'] else 'no'} |")
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
    p.add_argument("--repeat", type=int, default=3,
                   help="rounds: run every tool N times, interleaved, and report each one's "
                        "median with the spread (for shared machines)")
    args = p.parse_args()
    from _tree import make_tree, tree_bytes  # numpy: not loaded by the measured children

    if args.seed_size_mb < 200 and not args.allow_small_seed and not args.skip_seed:
        p.error("--seed-size-mb below 200 needs --allow-small-seed")
    work = args.work or Path(tempfile.mkdtemp(prefix="vvtv-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"generating trees in {work} ...", file=sys.stderr)
    big = make_tree(work / f"tree-{args.size_mb:g}", args.size_mb)
    sizes = {"main": tree_bytes(big)}
    runs: list[dict] = []
    cmp: dict[str, Any] = {}

    def note(run: dict) -> None:
        print(f"  {run['name']}: {run['seconds']:.2f} s, {_rate(run):.1f} MB/s, "
              f"peak {run['peak_rss_mib']:.0f} MiB", file=sys.stderr)

    # Rounds: every tool once per round, each one's median reported, so that all of
    # them see the same background load on a shared machine.
    ours_w, ours_r = ours_steps(big, work, sizes["main"], "main")
    tar_w, tar_r = tar3_steps(big, work, sizes["main"])
    rsteps = restic_steps(big, work, sizes["main"])
    main_steps = [ours_w, ours_r, tar_w, tar_r, *rsteps]
    small_steps: list[Step] = []
    if not args.skip_seed:
        small = make_tree(work / f"tree-{args.seed_size_mb:g}", args.seed_size_mb, seed=11)
        sizes["seed"] = tree_bytes(small)
        small_steps = ours_steps(small, work, sizes["seed"], "seed tree")[:1]
    for i in range(max(1, args.repeat)):
        for step in main_steps + small_steps:
            step.run()
            print(f"  round {i + 1}: {step.name}: {step.samples[-1]['seconds']:.2f} s",
                  file=sys.stderr)
    for step in main_steps + small_steps:
        runs.append(step.record())
        note(runs[-1])
    ow, orr = ours_w.record(), ours_r.record()
    cmp["write vs tar zstd -T0 -3 + sha256sum"] = _ratio(ours_w, tar_w, 1.0)
    if rsteps:
        cmp["write vs restic backup"] = _ratio(ours_w, rsteps[0], 2.0)
        cmp["verify+restore vs restic restore"] = _ratio(ours_r, rsteps[1], 1.5)
    cmp["write peak RSS MiB"] = {"value": round(ow["peak_rss_mib"], 1), "target": "< 300",
                                 "met": ow["peak_rss_mib"] < 300}
    cmp["restore peak RSS MiB"] = {"value": round(orr["peak_rss_mib"], 1), "target": "< 300",
                                   "met": orr["peak_rss_mib"] < 300}
    if not args.skip_seed:
        # once: at about 1-3 MB/s it is the long pole of the run
        seed = seed_step(small, work, sizes["seed"])
        seed.run()
        runs.append(seed.record())
        note(runs[-1])
        ours_s, sd = small_steps[0].record(), seed.record()
        cmp["write vs seed zstd -19 (speed)"] = _ratio(small_steps[0], seed, 100.0)
        extra = ours_s["output_bytes"] / sd["output_bytes"] - 1
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


def _ratio(ours: Step, peer: Step, target: float) -> dict[str, Any]:
    """How many times faster ours is (same tree): the ratio of the medians, and the range of
    the per-round ratios (each round runs both under the same background load)."""
    value = peer.median / ours.median
    out = {"value": f"{value:.2f}x", "target": f">= {target:g}x", "met": value >= target}
    if len(ours.samples) > 1 and len(peer.samples) == len(ours.samples):
        per_round = [p["seconds"] / o["seconds"]
                     for o, p in zip(ours.samples, peer.samples, strict=True)]
        out["rounds"] = f"{min(per_round):.2f}x-{max(per_round):.2f}x"
    return out


if __name__ == "__main__":
    main()
