"""The API runbooks, executed: drills n3 (onboarding, rotation) and n4 (abuse incident) run
the copy-paste blocks of ``ops/runbooks/rb_api.md`` against a live API (``vvtvctl api up``)
and read the evidence back from the audit chain.

A runbook block is run as written, in bash, with ``ROOT`` and ``BASE`` from the drill (its
``export ROOT=...`` line is the only one left out, and ``T`` names the drill's tenant in
every block of the section); ``vvtvctl`` is this interpreter's. Blocks preceded by
``<!-- drill: skip -->`` (the station's one-time set-up) are done by :class:`LiveApi`
instead, on free ports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from vvtvlib.api.canonical import headers as signed_headers
from vvtvlib.api.config import ApiLayout
from vvtvlib.api.init import api_init
from vvtvlib.core.evidence import ChainReport, verify_chain
from vvtvlib.pool.config import load_pool_config, providers_path, write_pool_config
from vvtvlib.pool.emulator.process import free_port

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "ops" / "runbooks" / "rb_api.md"
SKIP = "<!-- drill: skip -->"


def blocks(section: str, runbook: Path = RUNBOOK) -> list[str]:
    """The fenced bash blocks under ``## <section>`` (skip-marked ones left out)."""
    text = runbook.read_text()
    m = re.search(rf"^## {re.escape(section)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if m is None:
        raise KeyError(f"no section {section!r} in {runbook}")
    out = []
    for bm in re.finditer(r"(<!-- drill: skip -->\s*)?```bash\n(.*?)```", m.group(1), re.S):
        if not bm.group(1):
            out.append(bm.group(2))
    return out


@dataclass
class Step:
    block: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class LiveApi:
    """``vvtvctl api init`` on free ports, fast emulated models, ``vvtvctl api up``."""

    root: Path
    latency_ms: str = "2:6"
    base: str = ""
    work: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()
        self.work = self.root / "drill_work"

    def start(self) -> LiveApi:
        """A fresh drill root (a previous run's API is stopped and its folder removed)."""
        import shutil

        if self.root.exists():
            self.stop()
            shutil.rmtree(self.root)
        api_init(self.root, port=free_port(), gateway_port=free_port(), tls_port=free_port())
        cfg = load_pool_config(providers_path(self.root))
        provs = [p.model_copy(update={
            "base_url": f"http://127.0.0.1:{free_port()}",
            "emulator": p.emulator.model_copy(update={"latency_ms": self.latency_ms,
                                                      "error_rate": 0.0, "messy_rate": 0.0})})
            for p in cfg.providers if p.emulator is not None]
        write_pool_config(providers_path(self.root), cfg.model_copy(update={"providers": provs}))
        self.work.mkdir(parents=True, exist_ok=True)
        shim = self.work / "bin" / "vvtvctl"
        shim.parent.mkdir(exist_ok=True)
        shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m vvtvlib.cli.vvtvctl \"$@\"\n")
        shim.chmod(0o755)
        state = json.loads(self.vvtvctl("api", "up", "--root", str(self.root), "--json"))
        self.base = state["base_url"]
        return self

    def stop(self) -> None:
        subprocess.run([sys.executable, "-m", "vvtvlib.cli.vvtvctl", "api", "down", "--root",
                        str(self.root)], capture_output=True, check=False, timeout=120)

    def vvtvctl(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "vvtvlib.cli.vvtvctl", *args],
                             capture_output=True, text=True, check=False, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"vvtvctl {' '.join(args[:3])}: {out.stderr.strip()[-300:]}")
        return out.stdout

    def env(self) -> dict[str, str]:
        return {**os.environ, "ROOT": str(self.root), "BASE": self.base,
                "PATH": f"{self.work / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}

    def run(self, block: str, *, tenant: str | None = None) -> Step:
        lines = []
        for line in block.splitlines():
            if line.startswith("export ROOT="):
                continue
            if tenant and line.strip() == "T=t_REPLACE_ME":
                line = f"T={tenant}"
            lines.append(line)
        head = f"T={tenant}\n" if tenant else ""  # the runbook's "T=t_REPLACE_ME" line
        script = "set -euo pipefail\n" + head + "\n".join(lines) + "\n"
        out = subprocess.run(["bash", "-c", script], cwd=self.work, env=self.env(),
                             capture_output=True, text=True, check=False, timeout=300)
        return Step(block, out.returncode, out.stdout, out.stderr)

    def run_section(self, section: str, *, tenant: str | None = None) -> list[Step]:
        return [self.run(b, tenant=tenant) for b in blocks(section)]

    # -- calls and evidence -------------------------------------------------------------------
    def call(self, key: str, secret: str, method: str = "POST", target: str = "/v1/infer",
             body: bytes | None = None) -> httpx.Response:
        if body is None and method == "POST":
            body = json.dumps({"task": "expand_queries", "payload": {
                "seed": f"drill {uuid.uuid4().hex[:6]}"}}).encode()
        raw = body or b""
        h = signed_headers(key, secret, method, target, raw, ts_ms=int(time.time() * 1000),
                           nonce=str(uuid.uuid4()))
        return httpx.request(method, self.base + target, content=raw, timeout=30,
                             headers={"Content-Type": "application/json", **h})

    def creds(self, name: str = "acme.json") -> dict[str, Any]:
        return dict(json.loads((self.work / name).read_text()))

    def audit(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        """The audit lines (of one tenant), once what the workers buffer is written."""
        time.sleep(0.5)  # the workers write their buffers every 0.2 s
        path = ApiLayout(self.root).audit_log
        lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        return [x for x in lines if tenant_id is None or x.get("tenant_id") == tenant_id]

    def verify(self) -> ChainReport:
        return verify_chain(ApiLayout(self.root).audit_log)

    def secrets_absent(self, *needles: str) -> bool:
        """None of ``needles`` in the audit, the access and error logs, the pool's log."""
        lay = ApiLayout(self.root)
        text = "".join(p.read_text() for p in (lay.audit_log, lay.access_log, lay.error_log,
                                              lay.logs / "pool.jsonl") if p.exists())
        return not any(n and n in text for n in needles)


def postmortem(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What the abuse runbook's jq lines show, as one record: first and last request,
    statuses, networks, routes, and the tenant events with their ``seq``."""
    reqs = [x for x in lines if x.get("kind") == "request"]
    return {"requests": len(reqs),
            "first": reqs[0]["ts"] if reqs else None, "last": reqs[-1]["ts"] if reqs else None,
            "by_status": dict(sorted(Counter(str(x["status"]) for x in reqs).items())),
            "by_network": dict(Counter(x["ip"] for x in reqs)),
            "by_route": dict(Counter(x["route"] for x in reqs)),
            "actions": [{"seq": x["seq"], "ts": x["ts"], "event": x["event"],
                         "actor": x["actor"]} for x in lines
                        if x.get("kind") == "tenant_event"]}
