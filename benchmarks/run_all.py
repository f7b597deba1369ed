"""``make bench``: run every benchmark in turn, each on the same machine in one sitting.

Each ``bench_<name>.py`` runs our code side by side with its peers and writes
``<out>/<name>.json``; this runner passes the common size and prints where results went.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("vault", "ritual", "guardian", "revival", "pool", "api", "gateway_peers")
# The seed's `tar -I 'zstd -19'` runs in the vault bench on its own 200 MB tree (about
# 2 minutes); on a 1 GiB station in the ritual bench it would add ten more.
EXTRA = {"ritual": ["--no-seed"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path("reports/bench"))
    p.add_argument("--size-mb", type=int, default=1024, help="station / tree size for each bench")
    p.add_argument("--only", nargs="*", default=None, help="names to run (vault, ritual, ...)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = [n for n in ORDER if (HERE / f"bench_{n}.py").exists()]
    failed = []
    for name in names:
        if args.only and name not in args.only:
            continue
        out = args.out / f"{name}.json"
        cmd = [sys.executable, str(HERE / f"bench_{name}.py"), "--size-mb", str(args.size_mb),
               "--out", str(out), *EXTRA.get(name, [])]
        print(f"== bench {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call(cmd)
        print(f"== bench {name}: exit {rc} in {time.monotonic() - t0:.0f} s -> {out}", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
