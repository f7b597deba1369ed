"""``vvtvctl slo``: the SLO catalog, its generated rules, fixtures and dashboards, budgets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vvtvlib.core.errors import CheckFailed, UsageError
from vvtvlib.ops import budget as budget_mod
from vvtvlib.ops import conventions as conv
from vvtvlib.ops.catalog import load_catalog
from vvtvlib.ops.describe import burn_table, rows, slo_row
from vvtvlib.ops.generate import REPO, generate, stale, write
from vvtvlib.ops.openslo import export_openslo
from vvtvlib.ops.windows import load_windows

from .common import JsonOpt, RootOpt, console, emit_json, errors_to_exit, out

slo = typer.Typer(no_args_is_help=True, help="SLO catalog, alert rules, budgets (Epic O).")

CatalogOpt = typer.Option(REPO / conv.CATALOG_DIR, "--catalog",
                          help="Folder of slo_*.yaml files.")
RepoOpt = typer.Option(REPO, "--repo", help="Repository root the generated files go under.")


@slo.command("list")
def list_slos(catalog: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """The seed's SLO table: SLI, objective, window, error budget, owner, alerts."""
    with errors_to_exit(as_json):
        items = rows(load_catalog(catalog))
        if as_json:
            emit_json([r.to_dict() for r in items])
            return
        table = Table("SLO", "kind", "objective", "window", "error budget", "owner", "alerts")
        for r in items:
            table.add_row(r.id, r.kind, r.objective, r.window, r.error_budget, r.owner,
                          ", ".join(r.alerts))
        out.print(table)


@slo.command("show")
def show(name: str = typer.Argument(..., help="SLO id (service-name) or name."),
         catalog: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """One SLO with its SLI query, dashboard panel and linked alerts."""
    with errors_to_exit(as_json):
        cat = load_catalog(catalog)
        svc, item = cat.find(name)
        row = slo_row(cat, svc, item)
        if as_json:
            emit_json(row.to_dict())
            return
        for key, value in row.to_dict().items():
            out.print(f"[bold]{key}[/]: {', '.join(value) if isinstance(value, list) else value}",
                      highlight=False)


@slo.command("export")
def export(openslo: bool = typer.Option(False, "--openslo", help="OpenSLO v1 YAML."),
           output: Path | None = typer.Option(None, "--out", help="File (default: stdout)."),
           catalog: Path = CatalogOpt) -> None:
    """Export the catalog (``--openslo``: OpenSLO v1 documents)."""
    with errors_to_exit():
        if not openslo:
            raise UsageError("choose a format: --openslo")
        text = export_openslo(load_catalog(catalog))
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text)
            console.print(f"wrote {output}")


@slo.command("windows")
def windows(as_json: bool = JsonOpt, repo: Path = RepoOpt) -> None:
    """The multi-window multi-burn-rate table (page and ticket) with its burn factors."""
    with errors_to_exit(as_json):
        items = burn_table(load_windows(repo / conv.WINDOWS_FILE))
        if as_json:
            emit_json([r.to_dict() for r in items])
            return
        table = Table("severity", "speed", "budget share", "short", "long", "burn factor",
                      "budget gone in")
        for r in items:
            table.add_row(*r.to_dict().values())
        out.print(table)


@slo.command("generate")
def generate_cmd(check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 "
                                            "when a generated file is stale."),
                 repo: Path = RepoOpt, as_json: bool = JsonOpt) -> None:
    """Write alerts/prometheus_rules.yaml, ops/tests/*_test.yaml and dashboards/*.json."""
    with errors_to_exit(as_json):
        gen = generate(repo)
        if check:
            old = stale(gen, repo)
            if as_json:
                emit_json({"stale": old, "files": sorted(gen.files)})
            if old:
                raise CheckFailed(f"generated files are stale: {', '.join(old)} "
                                  "(run `vvtvctl slo generate`)")
            if not as_json:
                console.print(f"{len(gen.files)} generated files are up to date")
            return
        changed = write(gen, repo)
        if as_json:
            emit_json({"written": changed, "files": sorted(gen.files)})
        else:
            for rel in sorted(gen.files):
                console.print(f"{'wrote' if rel in changed else 'same '} {rel}")


@slo.command("test")
def test_cmd(repo: Path = RepoOpt, as_json: bool = JsonOpt) -> None:
    """promtool check rules and promtool test rules on the generated files."""
    from vvtvlib.ops.promtool import check_rules, run_rule_tests

    with errors_to_exit(as_json):
        checked = check_rules(repo / conv.RULES_FILE)
        tested = run_rule_tests(sorted((repo / conv.TESTS_DIR).glob("*_test.yaml")))
        if as_json:
            emit_json({"check": {"ok": checked.ok, "output": checked.output},
                       "test": {"ok": tested.ok, "output": tested.output}})
        else:
            console.print(checked.output, highlight=False)
            console.print(tested.output, highlight=False)
        if not (checked.ok and tested.ok):
            raise CheckFailed("promtool " + ("test" if checked.ok else "check") + " failed")


@slo.command("record")
def record_cmd(output: Path = typer.Option(..., "--out", help="Recording (JSONL) to write."),
               url: str | None = typer.Option(None, "--url", help="A /metrics URL."),
               root: Path | None = RootOpt,
               duration: float = typer.Option(60.0, "--duration", help="Seconds to record."),
               interval: float = typer.Option(2.0, "--interval", help="Seconds between scrapes.")
               ) -> None:
    """Scrape a /metrics endpoint (default: the station's) into a recording for `budget`."""
    from vvtvlib.ops.samples import record

    with errors_to_exit():
        target = url or _station_metrics_url(root)
        rec = record(target, duration, interval)
        rec.save(output)
        console.print(f"{len(rec.scrapes)} scrapes of {target} -> {output}")


def pct(v: float | None) -> str:
    return "no data" if v is None else f"{v * 100:.2f} %"


def _station_metrics_url(root: Path | None) -> str:
    from vvtvlib.station.control import as_layout
    from vvtvlib.station.metrics import metrics_url

    return metrics_url(as_layout(root or Path("/vvtv")))


@slo.command("budget")
def budget(prometheus: str | None = typer.Option(None, "--prometheus",
                                                 help="Prometheus base URL to query."),
           samples: Path | None = typer.Option(None, "--samples",
                                               help="A recording made by `slo record`."),
           step: str = typer.Option("1m", "--step", help="Subquery resolution (Prometheus)."),
           period: str | None = typer.Option(None, "--period", help="Look back this long "
                                             "instead of each SLO's window (Prometheus)."),
           catalog: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """Each SLO's error budget consumed and remaining over its window."""
    with errors_to_exit(as_json):
        if (prometheus is None) == (samples is None):
            raise UsageError("give exactly one of --prometheus URL or --samples FILE")
        cat = load_catalog(catalog)
        items = (budget_mod.budget_from_prometheus(cat, prometheus, period, step) if prometheus
                 else budget_mod.budget_from_file(cat, samples))  # type: ignore[arg-type]
        if as_json:
            emit_json([r.to_dict() for r in items])
            return
        table = Table("SLO", "objective", "budget", "error ratio", "consumed", "remaining",
                      "events")
        for r in items:
            table.add_row(r.slo, r.objective, r.error_budget,
                          "no data" if r.error_ratio is None else f"{r.error_ratio:.6f}",
                          pct(r.consumed), pct(r.remaining), str(r.events))
        out.print(table)


@slo.command("probe")
def probe(url: list[str] = typer.Option([], "--url", help="/metrics URL (repeatable)."),
          root: Path | None = RootOpt, as_json: bool = JsonOpt) -> None:
    """Scrape exporters and check they export every metric their service declares."""
    from vvtvlib.ops.exporters import probe_exporters

    with errors_to_exit(as_json):
        targets = list(url) or [_station_metrics_url(root)]
        results = probe_exporters(targets)
        if as_json:
            emit_json([r.to_dict() for r in results])
        else:
            for r in results:
                mark = "[green]ok[/]" if r.ok else "[red]missing[/]"
                console.print(f"{mark} {r.url}: {len(r.found)} lab metrics"
                              + (f"; missing {', '.join(r.missing)}" if r.missing else ""),
                              highlight=False)
        if not all(r.ok for r in results):
            raise CheckFailed("an exporter does not export every metric it declares")


def register(app: typer.Typer) -> None:
    app.add_typer(slo, name="slo")
