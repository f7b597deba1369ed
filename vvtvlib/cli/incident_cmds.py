"""``vvtvctl incident open|log|close``: the seed's incident playbook as a timeline, and the
postmortem it ends with."""

from __future__ import annotations

from pathlib import Path

import typer

from vvtvlib.core.clock import SYSTEM_CLOCK
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.incident import Action, close_incident, log_step, open_incident
from vvtvlib.ops.oncall.escalation import parse_at

from .common import JsonOpt, emit_json, errors_to_exit, out

incident = typer.Typer(no_args_is_help=True, help="Incident timeline and postmortem.")

DirOpt = typer.Option(REPO / "ops" / "postmortems", "--dir",
                      help="Folder of timelines and postmortems.")
AtOpt = typer.Option(None, "--at", help="When (UTC, ISO-8601; default now).")


@incident.command("open")
def open_cmd(slug: str = typer.Option(..., "--slug", help="Lower-case words with dashes."),
             severity: str = typer.Option("major", "--severity",
                                          help="critical | major | minor"),
             summary: str = typer.Option(..., "--summary", help="What is happening."),
             imoc: str = typer.Option(None, "--imoc", help="Incident Manager On Call."),
             at: str = AtOpt, folder: Path = DirOpt, as_json: bool = JsonOpt) -> None:
    """Acknowledge, name the IMOC, open the channel: the timeline starts."""
    with errors_to_exit(as_json):
        inc = open_incident(folder, slug, severity, summary, imoc=imoc,
                            at=parse_at(at, SYSTEM_CLOCK.now()))
        if as_json:
            emit_json(inc.to_dict())
        else:
            out.print(f"incident {inc.id} open ({inc.severity}); channel {inc.channel}; "
                      f"timeline {inc.timeline_path}")


@incident.command("log")
def log_cmd(incident_id: str = typer.Argument(..., metavar="ID", help="YYYYMMDD-HHMM-slug."),
            step: str = typer.Option(..., "--step",
                                     help="imoc | channel | status_page | mitigate | timeline"),
            note: str = typer.Option(..., "--note", help="What happened."),
            at: str = AtOpt, folder: Path = DirOpt, as_json: bool = JsonOpt) -> None:
    """One timestamped line of the timeline."""
    with errors_to_exit(as_json):
        rec = log_step(folder, incident_id, step, note, at=parse_at(at, SYSTEM_CLOCK.now()))
        if as_json:
            emit_json(rec)
        else:
            out.print(f"{rec['at']} {rec['title']}: {note}", highlight=False)


@incident.command("close")
def close_cmd(incident_id: str = typer.Argument(..., metavar="ID", help="YYYYMMDD-HHMM-slug."),
              cause: list[str] = typer.Option([], "--cause", help="A cause (repeatable)."),
              action: list[str] = typer.Option([], "--action",
                                               help="'what|owner|YYYY-MM-DD' (repeatable)."),
              communication: str = typer.Option("resolved; status page updated",
                                                "--communication",
                                                help="The closing message."),
              at: str = AtOpt, folder: Path = DirOpt, as_json: bool = JsonOpt) -> None:
    """Close with the corrective actions and write the postmortem PM-YYYYMMDD-<slug>.md."""
    with errors_to_exit(as_json):
        path = close_incident(folder, incident_id, causes=list(cause),
                              actions=[Action.parse(a) for a in action],
                              communication=communication,
                              at=parse_at(at, SYSTEM_CLOCK.now()))
        if as_json:
            emit_json({"postmortem": str(path)})
        else:
            out.print(f"closed; postmortem {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(incident, name="incident")
