"""``vvtvctl oncall who|simulate|receiver``: the rota, the escalation, the pager."""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

import typer
from rich.table import Table

from vvtvlib.core.clock import SYSTEM_CLOCK
from vvtvlib.core.layout import resolve_root
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.oncall.escalation import load_policy, parse_at, simulate
from vvtvlib.ops.oncall.receiver import ANNOUNCEMENT, Receiver, serve
from vvtvlib.ops.oncall.rota import Rota

from .common import JsonOpt, RootOpt, console, emit_json, errors_to_exit, out

oncall = typer.Typer(no_args_is_help=True, help="On-call rota, escalation and pager.")

RotaOpt = typer.Option(REPO / "ops" / "oncall" / "rota.ics", "--rota",
                       help="The rota (iCalendar).")
PolicyOpt = typer.Option(REPO / "ops" / "oncall" / "escalation.yaml", "--policy",
                         help="The escalation policy (YAML).")
AtOpt = typer.Option(None, "--at", help="A UTC time, ISO-8601 (default: now).")


@oncall.command("who")
def who(at: str = AtOpt, rota: Path = RotaOpt, policy: Path = PolicyOpt,
        as_json: bool = JsonOpt) -> None:
    """Who is on shift at each level, and whether the level is on duty at that hour."""
    with errors_to_exit(as_json):
        when = parse_at(at, SYSTEM_CLOCK.now())
        r, p = Rota.load(rota), load_policy(policy)
        rows = [{"level": lv.level, "role": lv.role, "person": r.who(lv.level, when),
                 "hours": lv.hours_text(), "on_duty": lv.on_duty(when)} for lv in p.levels]
        if as_json:
            emit_json({"at": when.isoformat(), "levels": rows})
            return
        t = Table("level", "role", "person", "hours", "on duty",
                  title=f"on call at {when:%a %Y-%m-%d %H:%M} UTC")
        for row in rows:
            t.add_row(f"L{row['level']}", str(row["role"]), str(row["person"] or "-"),
                      str(row["hours"]),
                      "yes" if row["on_duty"] else "[yellow]no[/]")
        out.print(t)


@oncall.command("simulate")
def simulate_cmd(alert: str = typer.Option(..., "--alert", help="Alert name."),
                 at: str = AtOpt,
                 ack_after: float = typer.Option(None, "--ack-after", min=0,
                                                 help="Minutes until someone acknowledges."),
                 rota: Path = RotaOpt, policy: Path = PolicyOpt,
                 as_json: bool = JsonOpt) -> None:
    """Who is paged when for an alert firing at --at, honouring hours, rota and the ack."""
    with errors_to_exit(as_json):
        when = parse_at(at, SYSTEM_CLOCK.now())
        tl = simulate(load_policy(policy), Rota.load(rota), alert, when, ack_after)
        if as_json:
            emit_json(tl.to_dict())
            return
        t = Table("t+min", "at (UTC)", "level", "person", "paged",
                  title=f"{alert} from {tl.started}")
        for pg in tl.pages:
            t.add_row(f"{pg.minute:g}", pg.at, pg.role, pg.person or "-",
                      "yes" if pg.paged else f"[yellow]no[/] ({pg.note})")
        out.print(t)
        if tl.acknowledged_at:
            out.print(f"acknowledged at {tl.acknowledged_at}: escalation stops")


@oncall.command("receiver")
def receiver_cmd(port: int = typer.Option(9095, "--port", min=0, max=65535,
                                          help="Port on 127.0.0.1 (0: any free port)."),
                 host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
                 root: Path | None = RootOpt,
                 folder: Path | None = typer.Option(None, "--dir",
                                                    help="Where pages.jsonl and receiver.json "
                                                         "go (default <root>/oncall)."),
                 rota: Path = RotaOpt, policy: Path = PolicyOpt) -> None:
    """An Alertmanager webhook receiver: records pages and applies the escalation; announces
    itself in receiver.json for `vvtvctl obs up` while it runs."""
    with errors_to_exit(False):
        recv = Receiver(load_policy(policy), Rota.load(rota),
                        folder or resolve_root(root) / "oncall")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a clean exit: the finally runs

        def ready(url: str) -> None:
            console.print(f"on-call receiver on {url} (pages in {recv.log_path}; announced "
                          f"in {recv.folder / ANNOUNCEMENT}); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            serve(recv, host, port, stop, ready=ready)


def register(app: typer.Typer) -> None:
    app.add_typer(oncall, name="oncall")
