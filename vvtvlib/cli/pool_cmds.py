"""Pool commands: ``pool init``, ``pool health``, ``pool provider disable|enable``,
``pool infer`` and ``pool emulate`` (one provider emulator in the foreground)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vvtvlib.core.errors import ConfigError, UsageError
from vvtvlib.core.stats import percentile
from vvtvlib.pool import InferRequest, Pool, lab_config, load_pool_config, providers_path
from vvtvlib.pool.config import pool_dir, write_pool_config
from vvtvlib.pool.state import set_enabled

from .common import JsonOpt, RootOpt, console, emit_json, errors_to_exit, out

pool = typer.Typer(no_args_is_help=True, help="The LLM pool: providers, health, inference.")
provider = typer.Typer(no_args_is_help=True, help="Enable or disable one provider.")


@pool.command("init")
def init(root: Path = RootOpt,
         force: bool = typer.Option(False, "--force", help="Overwrite providers.toml."),
         as_json: bool = JsonOpt) -> None:
    """Write pool/providers.toml with the lab's three emulated models."""
    with errors_to_exit(as_json):
        path = providers_path(root)
        if path.exists() and not force:
            raise UsageError(f"{path} already exists; use --force to overwrite it", path=path)
        write_pool_config(path, lab_config())
        if as_json:
            emit_json({"providers_toml": str(path)})
        else:
            out.print(f"wrote {path}")


def _probe(root: Path | None, probes: int) -> tuple[Pool, dict[str, list[float]]]:
    p = Pool.from_root(root)

    async def go() -> dict[str, list[float]]:
        seen: dict[str, list[float]] = {pid: [] for pid in p.members}
        try:
            for _ in range(probes):
                for pid, ms in (await p.probe()).items():
                    if ms is not None:
                        seen[pid].append(ms)
        finally:
            await p.aclose()
        return seen
    return p, asyncio.run(go())


@pool.command("health")
def health(root: Path = RootOpt,
           probes: int = typer.Option(3, "--probes", min=1, max=100,
                                      help="Pings per provider."),
           as_json: bool = JsonOpt) -> None:
    """Per provider: up, breaker state, p50/p95 and error rate (exit 1 if none is usable)."""
    with errors_to_exit(as_json):
        p, seen = _probe(root, probes)
        snapshot = _running_snapshot(root)
        rows: list[dict[str, Any]] = []
        for h in p.health():
            live = snapshot.get(h.id)
            row = dict(live) if live else dict(h.__dict__)
            pings = seen[h.id]
            row.update(enabled=h.enabled, up=bool(pings),
                       ping_p50_ms=_r(percentile(pings, 50)),
                       ping_p95_ms=_r(percentile(pings, 95)), source="pool" if live else "probe")
            if not live:
                row.update(p50_ms=row["ping_p50_ms"], p95_ms=row["ping_p95_ms"])
            rows.append(row)
        usable = any(r["up"] and r["enabled"] and r["breaker"] != "open" for r in rows)
        if as_json:
            emit_json({"usable": usable, "providers": rows})
        else:
            t = Table("provider", "model", "enabled", "up", "breaker", "p50 ms", "p95 ms",
                      "error rate", "from")
            for r in rows:
                t.add_row(r["id"], r["model"], "yes" if r["enabled"] else "[red]no[/]",
                          "[green]up[/]" if r["up"] else "[red]down[/]", r["breaker"],
                          _s(r["p50_ms"]), _s(r["p95_ms"]), f"{r['error_rate']:.1%}",
                          r["source"])
            out.print(t)
        raise typer.Exit(0 if usable else 1)


def _running_snapshot(root: Path | None) -> dict[str, dict[str, Any]]:
    """What a running pool last wrote to pool/health.json (breaker, p50/p95, errors)."""
    path = pool_dir(root) / "health.json"
    try:
        data = json.loads(path.read_text())
        return {row["id"]: row for row in data["providers"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _set(root: Path | None, provider_id: str, enabled: bool, as_json: bool) -> None:
    with errors_to_exit(as_json):
        cfg = load_pool_config(providers_path(root))
        ids = [p.id for p in cfg.providers]
        if provider_id not in ids:
            raise ConfigError(f"no provider {provider_id!r} in {providers_path(root)}; "
                              f"known: {', '.join(ids) or 'none'}", actual=provider_id)
        disabled = set_enabled(pool_dir(root) / "state.toml", provider_id, enabled)
        if as_json:
            emit_json({"provider": provider_id, "enabled": enabled, "disabled": sorted(disabled)})
        else:
            out.print(f"provider {provider_id} {'enabled' if enabled else 'disabled'}; "
                      f"a running pool applies it on its next request")


@provider.command("disable")
def disable(provider_id: str = typer.Argument(..., metavar="ID", help="Provider id."),
            root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Stop routing to a provider (a running pool picks it up without restart)."""
    _set(root, provider_id, False, as_json)


@provider.command("enable")
def enable(provider_id: str = typer.Argument(..., metavar="ID", help="Provider id."),
           root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Route to a provider again."""
    _set(root, provider_id, True, as_json)


@pool.command("infer")
def infer(task: str = typer.Option(..., "--task", help="expand_queries | judge | "
                                   "rerank_candidates | enrich_metadata | recovery_plan"),
          strategy: str = typer.Option("FASTEST", "--strategy",
                                       help="FASTEST | VOTING | WEIGHTED | JUDGE"),
          payload: str = typer.Option(..., "--payload", help="The task's payload, as JSON."),
          deadline_ms: int = typer.Option(None, "--deadline-ms",
                                          help="hints.deadline_ms (default per task)."),
          tenant: str = typer.Option("local", "--tenant", help="Tenant id (cache scope)."),
          root: Path = RootOpt, as_json: bool = JsonOpt) -> None:
    """Run one inference through the pool and print the result."""
    with errors_to_exit(as_json):
        try:
            body = json.loads(payload)
        except ValueError:
            raise UsageError("--payload is not valid JSON") from None
        if not isinstance(body, dict):
            raise UsageError("--payload must be a JSON object")
        request = InferRequest(task, body, strategy, tenant, deadline_ms)

        async def go() -> Any:
            async with Pool.from_root(root) as p:
                return await p.infer(request)
        result = asyncio.run(go())
        if as_json:
            emit_json(result.to_dict())
        else:
            console.print(f"{result.strategy_used}: {result.winner_model} in "
                          f"{result.duration_ms} ms (hedge {result.hedge}, tried "
                          f"{', '.join(result.providers_tried) or 'cache'})", highlight=False)
            out.print_json(json.dumps(result.content))


@pool.command("emulate")
def emulate(model: str = typer.Option(..., "--model", help="Model name it answers as."),
            port: int = typer.Option(..., "--port", min=1, max=65535, help="TCP port."),
            host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
            latency_ms: str = typer.Option("0", "--latency-ms",
                                           help="MEDIAN:P95 in ms (log-normal), e.g. 300:900."),
            error_rate: float = typer.Option(0.0, "--error-rate", min=0.0, max=1.0,
                                             help="Share of calls answered with HTTP 500."),
            messy_rate: float = typer.Option(0.0, "--messy-rate", min=0.0, max=1.0,
                                             help="Share of answers with fences, prose or "
                                                  "a missing/extra field.")) -> None:
    """Serve one provider emulator (Ollama + OpenAI APIs, /_faults) until interrupted."""
    from vvtvlib.pool.emulator.app import EmulatorSettings, parse_latency, serve

    with errors_to_exit():
        try:
            median, p95 = parse_latency(latency_ms)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        console.print(f"emulating {model} on http://{host}:{port} "
                      f"(latency {median:g}:{p95:g} ms, errors {error_rate:.0%})")
        serve(EmulatorSettings(model, median, p95, error_rate, messy_rate), host=host, port=port)


def register(app: typer.Typer) -> None:
    pool.add_typer(provider, name="provider")
    app.add_typer(pool, name="pool")
