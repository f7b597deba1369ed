"""``vvtvctl pool``: init, health, provider disable/enable, infer, emulate (usage errors)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vvtvlib.cli.vvtvctl import app
from vvtvlib.pool.config import write_pool_config
from vvtvlib.pool.emulator import EmulatorProcess
from vvtvlib.pool.emulator.process import config_for

runner = CliRunner()


def _root(tmp_path: Path, trio: list[EmulatorProcess]) -> Path:
    write_pool_config(tmp_path / "pool" / "providers.toml",
                      config_for(trio, pool={"cache_ttl_s": 0}))
    return tmp_path


def test_init_writes_the_lab_providers_and_refuses_to_overwrite(tmp_path: Path) -> None:
    assert runner.invoke(app, ["pool", "init", "--root", str(tmp_path)]).exit_code == 0
    assert "[[providers]]" in (tmp_path / "pool" / "providers.toml").read_text()
    res = runner.invoke(app, ["pool", "init", "--root", str(tmp_path)])
    assert res.exit_code == 2
    assert runner.invoke(app, ["pool", "init", "--root", str(tmp_path), "--force"]).exit_code == 0


def test_health_json_reports_every_provider(tmp_path: Path, trio: list[EmulatorProcess]) -> None:
    root = _root(tmp_path, trio)
    res = runner.invoke(app, ["pool", "health", "--root", str(root), "--json", "--probes", "2"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["usable"] and [r["id"] for r in data["providers"]] == ["fast", "medium", "slow"]
    assert all(r["up"] and r["breaker"] == "closed" and r["p95_ms"] is not None
               for r in data["providers"])


def test_infer_and_disable_enable(tmp_path: Path, trio: list[EmulatorProcess]) -> None:
    root = str(_root(tmp_path, trio))
    base = ["pool", "infer", "--root", root, "--task", "expand_queries", "--json"]
    res = runner.invoke(app, [*base, "--payload", '{"seed": "cli"}', "--strategy", "VOTING"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["strategy_used"] == "VOTING" and out["content"]["must_include"]
    for pid in ("fast", "medium"):
        assert runner.invoke(app, ["pool", "provider", "disable", pid,
                                   "--root", root]).exit_code == 0
    out = json.loads(runner.invoke(app, [*base, "--payload", '{"seed": "x"}']).stdout)
    assert out["winner_model"] == "slow" and out["providers_tried"] == ["slow"]
    assert runner.invoke(app, ["pool", "provider", "enable", "fast", "--root", root]).exit_code == 0
    health = json.loads(runner.invoke(app, ["pool", "health", "--root", root, "--json",
                                            "--probes", "1"]).stdout)
    assert [r["enabled"] for r in health["providers"]] == [True, False, True]


def test_bad_input_is_one_sentence_and_the_documented_exit_code(
        tmp_path: Path, trio: list[EmulatorProcess]) -> None:
    root = str(_root(tmp_path, trio))
    base = ["pool", "infer", "--root", root]
    cases = [
        ([*base, "--task", "nope", "--payload", "{}"], 2),
        ([*base, "--task", "expand_queries", "--payload", "{bad"], 2),
        ([*base, "--task", "expand_queries", "--payload", '{"seed": "a", "x": 1}'], 2),
        ([*base, "--task", "expand_queries", "--strategy", "RANDOM", "--payload", "{}"], 2),
        (["pool", "provider", "disable", "ghost", "--root", root], 2),
        (["pool", "health", "--root", str(tmp_path / "missing")], 2),
        (["pool", "emulate", "--model", "m", "--port", "9", "--latency-ms", "fast"], 2),
    ]
    for args, code in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == code, (args, res.output)
        assert "Traceback" not in res.output


def test_all_providers_down_is_provider_failed(tmp_path: Path, trio: list[EmulatorProcess]
                                               ) -> None:
    root = str(_root(tmp_path, trio))
    for em in trio:
        em.faults(down=True)
    try:
        res = runner.invoke(app, ["pool", "infer", "--root", root, "--task", "enrich_metadata",
                                  "--payload", '{"title": "t"}', "--json"])
        assert res.exit_code == 1 and json.loads(res.stdout)["error"] == "ProviderFailed"
    finally:
        for em in trio:
            em.clear_faults()


def test_every_pool_option_is_in_the_readme() -> None:
    import click
    import typer.main

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Epic N — the LLM pool"):]
    group = typer.main.get_command(app).commands["pool"]  # type: ignore[attr-defined]

    def walk(cmd: click.Command, name: str) -> list[tuple[str, str]]:
        if isinstance(cmd, click.Group):
            return [x for sub, c in cmd.commands.items() for x in walk(c, f"{name} {sub}")]
        return [(name, o) for p in cmd.params for o in p.opts
                if o.startswith("--") and o != "--help"]

    missing = [(cmd, opt) for cmd, opt in walk(group, "pool") if opt not in section]
    assert not missing


def test_configured_emulators_have_a_command_that_serves_them(tmp_path: Path) -> None:
    import subprocess

    import httpx

    from vvtvlib.pool.config import ProviderConfig, lab_config
    from vvtvlib.pool.emulator import free_port
    from vvtvlib.pool.emulator.process import command_for

    cfg = lab_config()
    assert all(command_for(p) for p in cfg.providers)
    port = free_port()
    pc = cfg.providers[0].model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    assert command_for(ProviderConfig(id="x", base_url="http://h:1", model="m")) is None
    proc = subprocess.Popen(command_for(pc) or [], stderr=subprocess.DEVNULL)
    try:
        from vvtvlib.pool.emulator.process import EmulatorProcess

        em = EmulatorProcess(pc.model, port)
        em.proc = proc  # type: ignore[assignment]
        em.wait_ready()
        assert httpx.get(f"{em.base_url}/api/tags").json()["models"][0]["name"] == "phi3:mini"
    finally:
        proc.terminate()
        proc.wait(5)


def test_health_reads_a_running_pool_snapshot(tmp_path: Path) -> None:
    from vvtvlib.pool.lab import PoolLab, sample_payload

    with PoolLab("a@1:2,b@3:5", root=tmp_path) as lab:
        for i in range(3):
            assert lab.attempt("judge", sample_payload("judge", i)).ok
        lab.emulator("b").faults(down=True)
        res = runner.invoke(app, ["pool", "health", "--root", str(tmp_path), "--json",
                                  "--probes", "1"])
        rows = {r["id"]: r for r in json.loads(res.stdout)["providers"]}
        assert res.exit_code == 0 and rows["a"]["up"] and not rows["b"]["up"]
        assert all(r["source"] == "pool" for r in rows.values())
        assert sum(r["calls"] for r in rows.values()) >= 1
