"""Station commands: ``station init|up|down``, ``status``, worker pause/resume,
``queue freeze``, ``broadcaster start|stop``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vvtvlib.core.layout import StationLayout
from vvtvlib.station import control
from vvtvlib.station.provision import init_station
from vvtvlib.station.supervisor import station_down, station_up

from .common import JsonOpt, RootOpt, console, emit_json, errors_to_exit, out, progress

station = typer.Typer(no_args_is_help=True, help="Provision, start and stop the lab station.")
queue = typer.Typer(no_args_is_help=True, help="The play queue.")
broadcaster = typer.Typer(no_args_is_help=True, help="The encoder that publishes live HLS.")

_STAGES = {"clips": "Encoding mezzanine clips", "filler": "Writing filler media",
           "databases": "Seeding databases", "keys": "Foundation key"}


@station.command("init")
def init(root: Path = RootOpt,
         profile: str = typer.Option("embedded", "--profile",
                                     help="embedded | nginx-rtmp"),
         size_mb: int = typer.Option(0, "--size-mb", help="Extra filler media, in MiB."),
         seed: int = typer.Option(1, "--seed", help="Seed for clips and rows."),
         items: int = typer.Option(6, "--items", help="Number of mezzanine items."),
         force: bool = typer.Option(False, "--force", help="Provision over a non-empty root."),
         as_json: bool = JsonOpt) -> None:
    """Create a station tree: clips, databases, configs and the foundation key."""
    with errors_to_exit(as_json):
        layout = StationLayout.at(root)
        with progress(not as_json) as bar:
            tasks: dict[str, Any] = {}

            def observe(stage: str, done: int, total: int, detail: str) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
                bar.update(tasks[stage], completed=done, total=total)

            result = init_station(layout.root, profile=profile, size_mb=size_mb, seed=seed,
                                  force=force, observer=observe, items=items)
        if as_json:
            emit_json(result.to_dict())
        else:
            out.print(f"station [bold]{result.station_id}[/] provisioned at {result.root} "
                      f"({result.profile}): {len(result.items)} items, "
                      f"{result.queue_seconds / 3600:.2f} h queued, "
                      f"{result.bytes / 1e6:.1f} MB, key {result.key_id}")


@station.command("up")
def up(root: Path = RootOpt,
       timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for service."),
       no_ingest: bool = typer.Option(False, "--no-ingest",
                                      help="Start HTTP/nginx and workers, not the encoder."),
       as_json: bool = JsonOpt) -> None:
    """Start the supervisor; returns once the first HLS segment is served."""
    with errors_to_exit(as_json):
        st = station_up(StationLayout.at(root), timeout_s=timeout, ingest=not no_ingest)
        if as_json:
            emit_json(st.to_dict())
        else:
            out.print(f"station up (pid {st.pid}, {st.profile}); HLS at {st.hls_url}")


@station.command("down")
def down(root: Path = RootOpt,
         timeout: float = typer.Option(30.0, "--timeout", help="Seconds before SIGKILL."),
         as_json: bool = JsonOpt) -> None:
    """Stop the station gracefully (the last segment is flushed)."""
    with errors_to_exit(as_json):
        result = station_down(StationLayout.at(root), timeout_s=timeout)
        if as_json:
            emit_json(result.to_dict())
        elif not result.was_running:
            out.print("station was not running" + (
                f"; killed {len(result.orphans_killed)} orphan process(es)"
                if result.orphans_killed else ""))
        else:
            how = "gracefully" if result.graceful else "forcibly (timeout)"
            out.print(f"station stopped {how} in {result.elapsed_s or 0.0:.1f} s")


def _render_status(st: control.StationStatus) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("station", f"{st.station_id} ({st.profile}) at {st.root}")
    table.add_row("up", "[green]yes[/]" if st.up else "[red]no[/]")
    table.add_row("queue buffer", f"{st.queue_buffer_s:.0f} s ({st.queue_entries} entries)"
                  + (" [yellow]frozen[/]" if st.queue_frozen else ""))
    table.add_row("paused", ", ".join(w for w, p in st.paused.items() if p) or "none")
    table.add_row("in progress", str(st.in_progress))
    table.add_row("encoder", (f"running {st.encoder_uptime_s:.0f} s" if st.encoder_running
                              else "stopped") + f", {st.encoder_restarts} restart(s)")
    table.add_row("segment age", "-" if st.segment_age_s is None else f"{st.segment_age_s} s")
    if st.playing:
        p = st.playing
        table.add_row("playing", f"{p['item_id']} @ {p['offset_s']:g} s (slot {p['slot_id']}, "
                      f"plan {p['plan_id']}, queue #{p['queue_position']})")
    if st.discovery_hold_until:
        table.add_row("discovery hold", f"until {st.discovery_hold_until}")
    table.add_row("hls_url", st.hls_url or "-")
    out.print(table)


@station.command("status", hidden=True)
def station_status(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Same as `vvtvctl status`."""
    status_cmd(root=root, as_json=as_json, wait_empty=False, timeout=600.0)


def status_cmd(root: Path = RootOpt, as_json: bool = JsonOpt,
               wait_empty: bool = typer.Option(False, "--wait-empty",
                                               help="Wait until no job is in progress."),
               timeout: float = typer.Option(600.0, "--timeout",
                                             help="Seconds --wait-empty may wait.")) -> None:
    """Queue buffer, flags, jobs in progress, encoder, segment age, what is playing."""
    with errors_to_exit(as_json):
        layout = StationLayout.at(root)
        st = control.wait_empty(layout, timeout) if wait_empty else control.status(layout)
        if as_json:
            emit_json(st.to_dict())
        else:
            _render_status(st)


def _worker_app(worker: str) -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help=f"The {worker} worker.")

    def _set(root: Path | None, paused: bool, as_json: bool) -> None:
        with errors_to_exit(as_json):
            r = control.set_worker_paused(StationLayout.at(root), worker, paused,
                                          require_up=True)
            if as_json:
                emit_json(r.to_dict())
            else:
                state = "paused" if paused else "running"
                out.print(f"{worker} {state}" + ("" if r.changed else " (already)"))

    @app.command("pause")
    def pause(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
        """Stop starting new jobs (jobs in progress finish)."""
        _set(root, True, as_json)

    @app.command("resume")
    def resume(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
        """Start taking jobs again."""
        _set(root, False, as_json)

    return app


@queue.command("freeze")
def freeze(on: bool = typer.Option(..., "--on/--off", help="Freeze or unfreeze the queue."),
           root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """No automatic reordering or top-up of the queue while frozen."""
    with errors_to_exit(as_json):
        r = control.set_queue_frozen(StationLayout.at(root), on, require_up=True)
        if as_json:
            emit_json(r.to_dict())
        else:
            out.print(f"queue {'frozen' if on else 'unfrozen'}"
                      + ("" if r.changed else " (already)"))


@broadcaster.command("start")
def bstart(root: Path = RootOpt,
           item: str = typer.Option(None, "--item", help="Item id to start with."),
           offset: float = typer.Option(None, "--offset",
                                        help="Offset in the item, seconds (rounded down to "
                                             "a segment boundary)."),
           timeout: float = typer.Option(30.0, "--timeout"),
           as_json: bool = JsonOpt) -> None:
    """Start publishing (at the resume point unless --item/--offset)."""
    with errors_to_exit(as_json):
        st = control.broadcaster_start(StationLayout.at(root), item, offset, timeout_s=timeout)
        if as_json:
            emit_json(st.to_dict())
        else:
            p = st.playing or {}
            out.print(f"broadcasting {p.get('item_id')} @ {p.get('offset_s')} s; {st.hls_url}")


@broadcaster.command("stop")
def bstop(root: Path = RootOpt, timeout: float = typer.Option(15.0, "--timeout"),
          as_json: bool = JsonOpt) -> None:
    """Stop publishing; the last segment is flushed and the resume point recorded."""
    with errors_to_exit(as_json):
        r = control.broadcaster_stop(StationLayout.at(root), timeout_s=timeout)
        if as_json:
            emit_json(r.to_dict())
        else:
            p = r.resume.position if r.resume else None
            out.print(f"broadcaster stopped; resumes at {p.item_id if p else None} @ "
                      f"{p.offset_s if p else None} s")


def register(app: typer.Typer) -> None:
    app.add_typer(station, name="station")
    app.command("status")(status_cmd)
    for worker in ("planner", "realizer", "discovery"):
        app.add_typer(_worker_app(worker), name=worker)
    app.add_typer(queue, name="queue")
    app.add_typer(broadcaster, name="broadcaster")


__all__ = ["console", "register"]
