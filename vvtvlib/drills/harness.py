"""Run drill notebooks with papermill, render them to HTML, keep an index of reports.

``reports/<stamp>/<name>.ipynb`` + ``<name>.html`` + ``<name>.result.json``; the index at
``reports/index.html`` lists every drill run, newest first, with PASS/FAIL per criterion.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import stamp as make_stamp
from vvtvlib.core.clock import utc_iso
from vvtvlib.core.errors import DependencyMissing, UsageError
from vvtvlib.core.fsio import unique_name

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
DRILL_ORDER = ("station_smoke", "m1_shutdown_drill", "m2_hibernation_drill", "m3_revival_drill",
               "n1_pool_drill", "n2_api_drill", "n3_onboarding_rotation_drill",
               "n4_abuse_incident_drill", "n6_load_chaos_drill", "o1_slo_catalog_drill",
               "o2_oncall_drill", "o3_gameday_drill", "o4_capacity_drill")


@dataclass
class DrillResult:
    name: str
    status: str  # PASS | FAIL
    started_utc: str
    duration_s: float
    notebook: str
    html: str | None
    parameters: dict[str, Any]
    criteria: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def available_drills(notebooks: Path = NOTEBOOKS) -> list[str]:
    found = {p.stem for p in notebooks.glob("*.ipynb")}
    ordered = [n for n in DRILL_ORDER if n in found]
    return ordered + sorted(found - set(ordered))


def run_drill(name: str, parameters: dict[str, Any] | None = None, *,
              out: Path = REPO / "reports", run_stamp: str | None = None,
              notebooks: Path = NOTEBOOKS, progress: bool = False) -> DrillResult:
    try:
        import papermill
        from jupyter_client.manager import KernelManager
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise DependencyMissing("papermill is not installed") from exc
    source = notebooks / f"{name}.ipynb"
    if not source.exists():
        raise UsageError(f"no drill named {name!r} (looked for {source}); "
                         f"available: {', '.join(available_drills(notebooks)) or 'none'}")
    folder = Path(out) / (run_stamp or new_run_stamp(Path(out)))
    folder.mkdir(parents=True, exist_ok=True)
    executed = folder / f"{name}.ipynb"
    result_file = folder / f"{name}.result.json"
    params = dict(parameters or {})
    started, t0 = utc_iso(), time.monotonic()
    error = None
    old_env = os.environ.get("VVTV_DRILL_RESULT")
    os.environ["VVTV_DRILL_RESULT"] = str(result_file)
    # the kernel on unix sockets in a private folder (0700), not plain TCP on loopback
    sockets = tempfile.TemporaryDirectory(prefix="vvtv-kernel-")
    km = KernelManager(kernel_name="python3", transport="ipc",
                       ip=os.path.join(sockets.name, "k"))
    try:
        papermill.execute_notebook(str(source), str(executed), parameters=params,
                                   progress_bar=progress, cwd=str(REPO), kernel_name="python3",
                                   km=km)
    except papermill.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    finally:
        if km.has_kernel:  # papermill stops only the kernels it made itself
            km.shutdown_kernel()
        sockets.cleanup()
        if old_env is None:
            os.environ.pop("VVTV_DRILL_RESULT", None)
        else:
            os.environ["VVTV_DRILL_RESULT"] = old_env
    detail = json.loads(result_file.read_text()) if result_file.exists() else {}
    passed = error is None and detail.get("passed", False)
    result = DrillResult(name=name, status="PASS" if passed else "FAIL", started_utc=started,
                         duration_s=round(time.monotonic() - t0, 2), notebook=executed.name,
                         html=None, parameters=params, criteria=detail.get("criteria", []),
                         metrics=detail.get("metrics", {}), error=error)
    if executed.exists():
        result.html = render_html(executed).name
    result_file.write_text(json.dumps(result.to_dict(), indent=2, default=str))
    write_index(Path(out))
    return result


def new_run_stamp(out: Path) -> str:
    return unique_name(out, make_stamp().replace("Z", "") + time.strftime("%SZ", time.gmtime()))


def render_html(notebook: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def collect_results(out: Path) -> list[tuple[str, DrillResult]]:
    rows = []
    for path in Path(out).glob("*/*.result.json"):
        data = json.loads(path.read_text())
        if "status" not in data:
            continue
        rows.append((path.parent.name, DrillResult(**data)))
    rows.sort(key=lambda r: (r[1].started_utc, r[0]), reverse=True)
    return rows


def write_index(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for folder, r in collect_results(out):
        colour = "#1a7f37" if r.status == "PASS" else "#cf222e"
        crit = "".join(
            f"<li style='color:{'#1a7f37' if c['passed'] else '#cf222e'}'>"
            f"{'PASS' if c['passed'] else 'FAIL'} — {html.escape(c['name'])}"
            f"<small> {html.escape(str(c.get('detail', '')))}</small></li>"
            for c in r.criteria)
        link = f"{folder}/{r.html}" if r.html else f"{folder}/{r.notebook}"
        err = f"<div class='err'>{html.escape(r.error)}</div>" if r.error else ""
        items.append(
            f"<tr><td>{html.escape(r.started_utc)}</td><td><a href='{html.escape(link)}'>"
            f"{html.escape(r.name)}</a></td><td style='color:{colour};font-weight:bold'>"
            f"{r.status}</td><td>{r.duration_s:.1f} s</td><td><ul>{crit}</ul>{err}</td></tr>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>VVTV drill reports</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.4em;vertical-align:top}}ul{{margin:0;padding-left:1.2em}}
.err{{color:#cf222e;font-family:monospace}}</style></head><body>
<h1>VVTV drill reports</h1><p>Newest first. Each drill links to its rendered notebook.</p>
<table><tr><th>started (UTC)</th><th>drill</th><th>result</th><th>duration</th>
<th>criteria</th></tr>{''.join(items)}</table></body></html>"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
