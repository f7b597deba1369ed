"""``logline revive``: bring a station up on a new node from a signed snapshot folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from vvtvlib.core.errors import VVTVError
from vvtvlib.core.steps import Journal, StepObserver, StepRecord
from vvtvlib.revival import (
    Phase,
    RevivalOptions,
    RevivalReport,
    parse_verify_pair,
    revive,
)

from .common import console, emit_json, errors_to_exit, progress


class _ProgressObserver(StepObserver):
    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task = bar.add_task("revival", total=len(tuple(Phase)))

    def step_started(self, record: StepRecord, index: int, total: int) -> None:
        self.bar.update(self.task, description=record.name)

    def step_progress(self, record: StepRecord, message: str, done: int | None = None,
                      total: int | None = None) -> None:
        self.bar.update(self.task, description=f"{record.name}: {message}")

    def step_finished(self, record: StepRecord) -> None:
        colour = {"ok": "green", "warn": "yellow", "skipped": "cyan"}.get(record.status.value,
                                                                          "red")
        self.bar.console.print(
            f"[{colour}]{record.status.value:>7}[/] {record.name:<12} "
            f"{record.duration_s:8.2f} s"
            + (f"  ({'; '.join(record.warnings)})" if record.warnings else ""),
            highlight=False)
        self.bar.advance(self.task)


def _summary(report: RevivalReport) -> None:
    if report.succeeded:
        cont = report.continuity or {}
        console.print(f"[bold green]revived[/] {report.station_id} generation "
                      f"{report.source_generation} -> {report.new_generation} in "
                      f"{report.rto_s:.1f} s (RTO); continuity "
                      f"{'passed' if cont.get('passed') else 'not proven'}; report "
                      f"{report.artifacts.get('report')}", highlight=False)
        for f in report.divergences + report.corrections:
            console.print(f"  [yellow]{f.what}[/]: {f.message}", highlight=False)


def revive_cmd(
    snapshots: Annotated[Path, typer.Option(
        "--snapshots", help="The snapshot folder (vault/snapshots/<stamp>/ of the ritual).")],
    target: Annotated[Path, typer.Option("--target", help="The new station root.")],
    verify: Annotated[str | None, typer.Option(
        "--verify", metavar="MANIFEST:SIG",
        help="Manifest and signature (default: the ones in --snapshots).")] = None,
    pubkey: Annotated[Path | None, typer.Option(
        "--pubkey", help="Trusted foundation public key (.pub) or a folder of them; "
        "default TARGET/vault/keys/trusted/.")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Missing optional tools are failures.")] = False,
    prove_continuity: Annotated[bool, typer.Option(
        "--prove-continuity", help="Compare the first frame after revival with "
        "final_frame.jpg and the playout log.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Revive into a non-empty target (replaced files are moved to "
        "TARGET/.displaced-<stamp>/).")] = False,
    force_rollback: Annotated[bool, typer.Option(
        "--force-rollback", help="Allow a generation older than the newest in the target's "
        "history.")] = False,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Where the report is also written, success or failure: a file, or "
        "an existing folder (gets resurrection_report.json). Never inside the target. "
        "Default: ./resurrection_report.json, or beside the snapshot folder when the current "
        "folder is inside the target.")] = None,
    blocklist: Annotated[list[Path] | None, typer.Option(
        "--blocklist", help="Extra content blocklist (JSON); TARGET/vault/blocklist.json "
        "always applies.")] = None,
    stop_after: Annotated[bool, typer.Option(
        "--stop-after", help="Stop the revived station at the end (rehearsals).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the report as JSON on stdout.")] = False,
) -> None:
    """Verify, restore, prove continuity and reactivate a station from a signed snapshot."""

    def stopped(journal: Journal, exc: VVTVError, as_json: bool) -> str | None:
        if not isinstance(journal, RevivalReport):
            return None
        where = (journal.failure or {}).get("phase")
        path = options.report_path if options is not None else None
        return f"revival failed in {where}: {exc.message} (report: {path})"

    options: RevivalOptions | None = None
    with errors_to_exit(as_json, stopped):
        manifest = signature = None
        if verify:
            manifest, signature = parse_verify_pair(verify)
        options = RevivalOptions(snapshots=snapshots, target=target, manifest=manifest,
                                 signature=signature, pubkey=pubkey, strict=strict,
                                 prove_continuity=prove_continuity, force=force,
                                 force_rollback=force_rollback, report_path=report,
                                 blocklists=list(blocklist or []), leave_running=not stop_after)
        with progress(not as_json) as bar:
            result = revive(options, _ProgressObserver(bar))
        if as_json:
            emit_json(result.to_dict())
        else:
            _summary(result)


def register(app: typer.Typer) -> None:
    app.command("revive")(revive_cmd)
