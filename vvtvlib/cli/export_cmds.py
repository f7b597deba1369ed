"""``logline export``: a snapshot copied to offline media or an rclone remote, read back
and verified there, with the evidence-log heads as its witness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.export import ExportResult, export_to_folder, plan_export
from vvtvlib.vault.rclone import export_to_remote, is_remote

from .common import JsonOpt, console, emit_json, errors_to_exit


def _vault(snapshots: Path, root: str | None) -> Path:
    """``--root``/``$VVTV_ROOT``'s vault; by default the vault the snapshot folder sits in
    (``<root>/vault/snapshots/<stamp>``)."""
    parent = snapshots.absolute().parent
    if root is None and parent.name == "snapshots" and parent.parent.name == "vault":
        return parent.parent
    return StationLayout.at(root).vault


def export(snapshots: Annotated[Path, typer.Option(
               "--snapshots", help="The sealed snapshot folder (vault/snapshots/<stamp>).")],
           to: Annotated[str, typer.Option(
               "--to", help="A mounted folder (disk, NAS) or an rclone remote REMOTE:path; "
                            "the export is <to>/<stamp>.")],
           root: Annotated[str | None, typer.Option(
               "--root", envvar="VVTV_ROOT",
               help="Station root whose vault/*.jsonl.head evidence heads are carried "
                    "(default: the vault holding --snapshots).")] = None,
           verify_only: Annotated[bool, typer.Option(
               "--verify-only", help="Copy nothing: read an existing export back and check "
                                     "every file.")] = False,
           as_json: bool = JsonOpt) -> None:
    """Copy a snapshot to offline media or an rclone remote and verify it there."""
    with errors_to_exit(as_json):
        plan = plan_export(snapshots, _vault(snapshots, root))
        result: ExportResult
        if is_remote(to):
            result = export_to_remote(plan, to, verify_only=verify_only)
        else:
            result = export_to_folder(plan, Path(to), verify_only=verify_only)
        if as_json:
            emit_json(result.to_dict())
            return
        for warning in result.warnings:
            console.print(f"[yellow]warning[/]: {warning}", highlight=False, soft_wrap=True)
        console.print(f"[green]ok[/]: {result.status} {plan.name} -> {result.destination}: "
                      f"{result.files} files, {result.bytes} bytes read back and matched, "
                      f"{len(result.heads)} evidence head(s)", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
