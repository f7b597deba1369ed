"""``vvtvctl ops status|drain|undrain|bundle``, ``vvtvctl snapshot quick`` and
``vvtvctl validate all``: the on-call operator's tools."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vvtvlib.core.errors import CheckFailed
from vvtvlib.ops import conventions as conv
from vvtvlib.ops.bundle import SCOPES, make_bundle
from vvtvlib.ops.drain import SERVICES, drain, undrain
from vvtvlib.ops.generate import REPO
from vvtvlib.ops.snapshot import quick_snapshot
from vvtvlib.ops.status import OpsStatus, ops_status
from vvtvlib.ops.validate import validate_all

from .common import JsonOpt, RootOpt, emit_json, errors_to_exit, out

ops = typer.Typer(no_args_is_help=True, help="Consolidated health, drains, diagnostic bundles.")
snapshot = typer.Typer(no_args_is_help=True, help="Light diagnostic snapshots.")
validate = typer.Typer(no_args_is_help=True, help="Validate the repository's ops content.")

COLOUR = {"green": "green", "amber": "yellow", "red": "bold red", "absent": "dim"}
PromOpt = typer.Option(None, "--prometheus", envvar="VVTV_PROMETHEUS_URL",
                       help="Prometheus URL for the SLO budgets.")
SamplesOpt = typer.Option(None, "--samples", help="A recording (`slo record`) for the budgets.")


def _status(root: Path | None, prometheus: str | None = None,
            samples: Path | None = None) -> OpsStatus:
    return ops_status(root, catalog_dir=REPO / conv.CATALOG_DIR, prometheus=prometheus,
                      samples=samples)


@ops.command("status")
def status_cmd(root: Path = RootOpt, prometheus: str = PromOpt, samples: Path = SamplesOpt,
               as_json: bool = JsonOpt) -> None:
    """Station, flags, pool, API and SLO budgets with one verdict (exit 1 when red)."""
    with errors_to_exit(as_json):
        st = _status(root, prometheus, samples)
        if as_json:
            emit_json(st.to_dict())
        else:
            t = Table("component", "verdict", "summary", "problems",
                      title=f"ops status of {st.root}")
            for c in st.components:
                colour = COLOUR[c.verdict]
                t.add_row(c.name, f"[{colour}]{c.verdict}[/]", c.summary,
                          "\n".join(c.problems))
            out.print(t)
            out.print(f"verdict: [{COLOUR[st.verdict]}]{st.verdict.upper()}[/]")
        raise typer.Exit(1 if st.red else 0)


@ops.command("drain")
def drain_cmd(service: str = typer.Option(..., "--service", help=" | ".join(SERVICES)),
              reason: str = typer.Option(..., "--reason", help="Why (audited)."),
              fallback: str = typer.Option(None, "--fallback",
                                           help="Pool only: answer this instead of DRAINED."),
              wait: float = typer.Option(30.0, "--wait", min=0,
                                         help="Seconds to wait for work in flight to finish."),
              root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Put a service in maintenance: new work refused or diverted, work in flight finishes."""
    with errors_to_exit(as_json):
        res = drain(root, service, reason, fallback=fallback, wait_s=wait)
        if as_json:
            emit_json(res.to_dict())
        else:
            idle = {True: "; nothing in flight", None: "", False: ""}[res.idle]
            out.print(f"{service} drained ({reason}){idle}; running services apply it "
                      "within a second")


@ops.command("undrain")
def undrain_cmd(service: str = typer.Option(..., "--service", help=" | ".join(SERVICES)),
                reason: str = typer.Option("maintenance over", "--reason",
                                           help="Why (audited)."),
                root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """End a service's maintenance."""
    with errors_to_exit(as_json):
        res = undrain(root, service, reason)
        if as_json:
            emit_json(res.to_dict())
        else:
            out.print(f"{service} back in service")


@ops.command("bundle")
def bundle_cmd(scope: str = typer.Option("all", "--scope", help=" | ".join(SCOPES)),
               output: Path = typer.Option(None, "--out", help="Archive path (default "
                                           "<root>/system/logs/bundles/...tar.zst)."),
               root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """A redacted diagnostic tar.zst (logs, configs, status, metrics, audit) + SHA-256s."""
    with errors_to_exit(as_json):
        st = _status(root)
        res = make_bundle(root, scope, status=st.to_dict(), out=output)
        if as_json:
            emit_json(res.to_dict())
        else:
            out.print(f"{res.path} ({res.size} bytes, {len(res.members)} files, "
                      f"{res.redactions} values redacted)\nsha256 {res.sha256}")


@snapshot.command("quick")
def quick_cmd(root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """A light signed diagnostic snapshot in the vault (nothing stopped)."""
    with errors_to_exit(as_json):
        snap = quick_snapshot(root, status=_status(root).to_dict())
        if as_json:
            emit_json(snap.to_dict())
        else:
            out.print(f"{snap.archive}\nsigned by {snap.key_id} (verified): {snap.signature}")


@validate.command("all")
def validate_cmd(repo: Path = typer.Option(REPO, "--repo", help="Repository root."),
                 root: Path = typer.Option(None, "--root",
                                           help="Also a station root's configs and flags."),
                 no_promtool: bool = typer.Option(False, "--no-promtool",
                                                  help="Skip promtool (no rules checks)."),
                 as_json: bool = JsonOpt) -> None:
    """Every TOML/YAML, catalog, flags, on-call files, promtool, runbook links and commands."""
    from . import logline, vvtvctl

    with errors_to_exit(as_json):
        report = validate_all(repo, {"vvtvctl": vvtvctl.app, "logline": logline.app},
                              root=root, promtool=not no_promtool)
        if as_json:
            emit_json(report.to_dict())
        else:
            for c in report.checks:
                mark = "[green]PASS[/]" if c.ok else "[bold red]FAIL[/]"
                out.print(f"{mark} {c.name}" + (f" ({c.detail})" if c.detail else ""))
                for p in c.problems:
                    out.print(f"     - {p}", highlight=False)
        if not report.ok and as_json:
            raise typer.Exit(1)  # the report says which checks failed and why
        if not report.ok:
            raise CheckFailed(f"{len(report.problems)} problem(s): "
                              + "; ".join(report.problems[:3]))


def register(app: typer.Typer) -> None:
    app.add_typer(ops, name="ops")
    app.add_typer(snapshot, name="snapshot")
    app.add_typer(validate, name="validate")
