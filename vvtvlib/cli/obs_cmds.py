"""Live observability: ``obs up|down|status`` (Prometheus + Alertmanager for a lab root)."""

from __future__ import annotations

from pathlib import Path

import typer

from vvtvlib.core.layout import resolve_root
from vvtvlib.ops.gamedays import GAMEDAYS, experiment_path, run_gameday
from vvtvlib.ops.obs import obs_down, obs_status, obs_up

from .common import JsonOpt, RootOpt, emit_json, errors_to_exit, out, progress

obs = typer.Typer(no_args_is_help=True,
                  help="Live observability: Prometheus and Alertmanager for a lab station.")


@obs.command("up")
def up(root: Path = RootOpt,
       time_scale: float = typer.Option(1.0, "--time-scale",
                                        help="Lab setting: divide rule `for:` and burn-rate "
                                             "windows by this factor (>= 1)."),
       scrape_interval: str = typer.Option("2s", "--scrape-interval",
                                           help="Prometheus scrape and rule interval."),
       receiver: str | None = typer.Option(None, "--receiver",
                                           help="On-call receiver webhook URL (default: "
                                                "the running `oncall receiver`)."),
       timeout: float = typer.Option(30, "--timeout", help="Seconds to wait for ready."),
       as_json: bool = JsonOpt) -> None:
    """Start Prometheus (station, pool-api, emulators; the generated rules) and
    Alertmanager (severity routes to the on-call receiver) on free ports."""
    with errors_to_exit(as_json):
        st = obs_up(root, time_scale=time_scale, scrape_interval=scrape_interval,
                    receiver_url=receiver, timeout_s=timeout)
        if as_json:
            emit_json(st.to_dict())
        else:
            out.print(f"prometheus {st.prometheus_url}  alertmanager {st.alertmanager_url}")
            out.print(f"scraping {len(st.targets)} targets; pages to {st.receiver_url}")
            out.print(st.banner)


@obs.command("down")
def down(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Stop Prometheus and Alertmanager (their data folders stay under <root>/obs)."""
    with errors_to_exit(as_json):
        ran = obs_down(root)
        if as_json:
            emit_json({"was_running": ran})
        else:
            out.print("stopped" if ran else "was not running")


@obs.command("status")
def status(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Ready, targets up, rules loaded, alerts firing, the time scale (exit 1 when down)."""
    with errors_to_exit(as_json):
        st = obs_status(root)
        if as_json:
            emit_json(st.to_dict())
        elif not st.running:
            out.print("not running")
        else:
            out.print(f"prometheus {st.prometheus_url}  alertmanager {st.alertmanager_url}  "
                      f"ready={all(st.ready.values())} rules={st.rules_loaded}")
            for url, health in sorted(st.targets.items()):
                out.print(f"  {health:7} {url}")
            out.print(f"firing: {', '.join(st.firing) or 'none'}")
            out.print(st.banner)
        if not (st.running and all(st.ready.values())):
            raise typer.Exit(1)


gameday = typer.Typer(no_args_is_help=True,
                      help="Chaos Toolkit game days against the live Prometheus of `obs`.")


@gameday.command("list")
def gameday_list(as_json: bool = JsonOpt) -> None:
    """The game days and their experiment files."""
    rows = [{"name": g, "experiment": str(experiment_path(g).relative_to(experiment_path(g)
                                                                         .parents[1])),
             "present": experiment_path(g).is_file()} for g in GAMEDAYS]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        out.print(f"{r['name']:16} {r['experiment']}{'' if r['present'] else ' (missing)'}")


@gameday.command("run")
def gameday_run(name: str = typer.Argument(..., help="encoder-restart | io-throttle | "
                                                     "kill-provider | gateway-latency"),
                root: Path = RootOpt,
                out_dir: Path = typer.Option(Path("reports"), "--out",
                                             help="Where the journal and report go."),
                observe: float = typer.Option(20, "--observe",
                                              help="Seconds the fault is watched."),
                as_json: bool = JsonOpt) -> None:
    """Run one game day (station, obs and the on-call receiver up); exit 1 on FAIL."""
    with errors_to_exit(as_json):
        r = run_gameday(name, resolve_root(root), out_dir, observe_s=observe)
        if as_json:
            emit_json({"gameday": r.gameday, "passed": r.passed, "journal": str(r.journal),
                       "report": str(r.report),
                       "criteria": [c.__dict__ for c in r.criteria]})
        else:
            for c in r.criteria:
                out.print(f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
            out.print(f"{'PASS' if r.passed else 'FAIL'}; report {r.report}")
        if not r.passed:
            raise typer.Exit(1)


@gameday.command("soak")
def gameday_soak(root: Path = typer.Option(Path("lab/soak"), "--root",
                                           help="A fresh lab root (station, API, obs)."),
                 duration: float = typer.Option(7200, "--duration", help="Seconds of load."),
                 rps: float = typer.Option(8, "--rps", help="Requests per second (5-10)."),
                 out_dir: Path = typer.Option(Path("reports"), "--out",
                                              help="Where the report goes."),
                 as_json: bool = JsonOpt) -> None:
    """The soak: signed load on the public API with the game-day monitoring on; PASS when
    p95 is within the SLO and 5xx < 0.5 % (exit 1 otherwise)."""
    from vvtvlib.ops.soak import run_soak

    with errors_to_exit(as_json), progress(enabled=not as_json) as bar:
        task = bar.add_task(f"soak at {rps:g} rps", total=int(duration))
        r = run_soak(root, out_dir, duration_s=duration, rps=rps,
                     progress=lambda done, _total: bar.update(task, completed=int(done)))
        if as_json:
            emit_json(r.to_dict())
        else:
            out.print(f"{'PASS' if r.passed else 'FAIL'}: {r.client['requests']} requests, "
                      f"p95 {r.client['p95_ms']} ms, 5xx {r.client['rate_5xx']:.3%}; "
                      f"report {r.report}")
        if not r.passed:
            raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(obs, name="obs")
    app.add_typer(gameday, name="gameday")
