"""``sleepguardd``: the hibernation guardian.

    sleepguardd --root DIR [--interval 900] [--sample N] [--once] [--cycles K] [--json]

Without ``--once``/``--cycles`` it runs until SIGTERM/SIGINT, at low priority, with a pidfile
in ``system/run/``. Exit 1 when any cycle (or the watcher) found a divergence.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import typer

from vvtvlib.core.layout import StationLayout
from vvtvlib.guardian import Guardian, GuardianPaths, load_options
from vvtvlib.guardian.process import lower_priority, pidfile

from .common import JsonOpt, RootOpt, console, emit_json, errors_to_exit, run_app

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="Guard a hibernating VVTV vault: stat every file, re-hash a rotating "
                       "1/N slice, watch for writes; never write into what it guards.")


def _print(entry: dict[str, Any]) -> None:
    divs = entry.get("divergences", [])
    if entry.get("type") == "tamper":
        console.print(f"[bold red]ALERT[/] evidence tampered: {entry['reason']} "
                      f"(alert kept in vault/sleepguard_tamper.jsonl)", highlight=False)
        return
    if entry.get("type") == "watch":
        for d in divs:
            console.print(f"[bold red]ALERT[/] write seen: {d['path']} ({d['actual']})",
                          highlight=False)
        return
    head = (f"cycle {entry['cycle']}: {entry['files_stated']} stat'ed, "
            f"{entry['files_hashed']} hashed ({entry['bytes_hashed']:,} B), "
            f"coverage {entry['coverage']:.0%}, disk {entry['disk_free_pct']:.1f}% free, "
            f"{entry['duration_s']:.3f} s")
    if not divs:
        console.print(f"[green]ok[/] {head}", highlight=False)
        return
    console.print(f"[bold red]ALERT[/] {head}: {len(divs)} divergence(s)", highlight=False)
    for d in divs:
        console.print(f"  {d['path']}: {d['kind']} (expected {d['expected']}, "
                      f"found {d['actual']})", highlight=False)


@app.command()
def guard(root: Path | None = RootOpt,
         interval: float | None = typer.Option(None, "--interval", min=0,
                                               help="Seconds between cycles (default 900)."),
         sample: int | None = typer.Option(None, "--sample", min=1,
                                           help="Re-hash 1/N of the files per cycle "
                                                "(default 16: full coverage every 16 cycles)."),
         once: bool = typer.Option(False, "--once", help="Run one cycle and exit."),
         cycles: int | None = typer.Option(None, "--cycles", min=1,
                                           help="Run K cycles and exit."),
         budget: int | None = typer.Option(None, "--budget", min=0,
                                           help="Bytes re-hashed per cycle at most (0: none)."),
         min_free_pct: float | None = typer.Option(None, "--min-free-pct", min=0, max=100,
                                                   help="Free disk below this is a divergence."),
         watch: bool | None = typer.Option(None, "--watch/--no-watch",
                                           help="Watch guarded folders between cycles."),
         as_json: bool = JsonOpt) -> None:
    """Guard the vault's snapshots and manifests."""
    with errors_to_exit(as_json):
        layout = StationLayout.at(root)
        overrides = [f"{k}={v}" for k, v in (("interval_s", interval), ("sample", sample),
                                             ("byte_budget", budget),
                                             ("min_free_pct", min_free_pct)) if v is not None]
        if watch is not None:
            overrides.append(f"watch={'true' if watch else 'false'}")
        options = load_options(layout, overrides)
        paths = GuardianPaths(layout)
        stop = threading.Event()
        bounded = 1 if once else cycles
        guardian = Guardian(paths, options, stop=stop, observer=None if as_json else _print)
        started = guardian.start()
        if not as_json:
            console.print(f"guarding {started.entries} paths ({started.files} files) under "
                          f"{layout.root}; baseline {started.baseline_sha256[:12]}, "
                          f"1:{options.sample} per cycle", highlight=False)
        if bounded is None:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            lower_priority()
            with pidfile(paths):
                run = guardian.run(None)
        else:
            run = guardian.run(bounded)
        if as_json:
            emit_json(run.cycles[0].to_record() if once and run.cycles else run.to_dict())
        raise typer.Exit(0 if run.ok else 1)


main = run_app(app)

if __name__ == "__main__":
    main()
