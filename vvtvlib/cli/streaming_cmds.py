"""``vvtvctl streaming status|restart-encoder|emergency``: rb_streaming's actions."""

from __future__ import annotations

from pathlib import Path

import typer

from vvtvlib.core.errors import UsageError
from vvtvlib.core.layout import StationLayout
from vvtvlib.station import api as station

from .common import JsonOpt, RootOpt, emit_json, errors_to_exit, out

streaming = typer.Typer(no_args_is_help=True, help="The live stream: status, encoder, "
                        "emergency loop.")


@streaming.command("status")
def status_cmd(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Encoder, segment age, buffer, nginx (exit 1 when off air)."""
    with errors_to_exit(as_json):
        st = station.status(StationLayout.at(root))
        on_air = st.up and st.encoder_running
        data = {"on_air": on_air, "encoder_running": st.encoder_running,
                "encoder_uptime_s": st.encoder_uptime_s,
                "encoder_restarts": st.encoder_restarts, "segment_age_s": st.segment_age_s,
                "queue_buffer_min": round(st.queue_buffer_s / 60, 2), "hls_url": st.hls_url,
                "nginx": st.nginx, "playing": st.playing}
        if as_json:
            emit_json(data)
        else:
            age = "-" if st.segment_age_s is None else f"{st.segment_age_s:.1f} s"
            out.print(f"{'ON AIR' if on_air else 'OFF AIR'}: encoder "
                      f"{'running' if st.encoder_running else 'stopped'} "
                      f"({st.encoder_uptime_s:.0f} s, {st.encoder_restarts} restarts), "
                      f"segment age {age}, buffer {data['queue_buffer_min']} min, "
                      f"hls {st.hls_url or '-'}")
        raise typer.Exit(0 if on_air else 1)


@streaming.command("restart-encoder")
def restart_cmd(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Restart the encoder at the resume point; nginx keeps serving."""
    with errors_to_exit(as_json):
        res = station.restart_encoder(StationLayout.at(root))
        if as_json:
            emit_json(res.to_dict())
        else:
            out.print(f"encoder restarted (run {res.previous_run_id} -> "
                      f"{res.run_id}); nginx pid {res.nginx_pid or '-'} untouched")


@streaming.command("emergency")
def emergency_cmd(inject: int = typer.Option(..., "--inject", help="Loop entries to add."),
                  reason: str = typer.Option(..., "--reason", help="Why (logged)."),
                  root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Append the emergency loop to the queue (when the buffer runs low)."""
    with errors_to_exit(as_json):
        if not 1 <= inject <= 100:
            raise UsageError(f"--inject must be between 1 and 100, got {inject}")
        res = station.inject_emergency(StationLayout.at(root), inject, reason)
        if as_json:
            emit_json(res.to_dict())
        else:
            out.print(f"emergency loop: +{res.injected} entries ({res.added_s:.0f} s); "
                      f"buffer now {res.queue_buffer_s / 60:.1f} min")


def register(app: typer.Typer) -> None:
    app.add_typer(streaming, name="streaming")
