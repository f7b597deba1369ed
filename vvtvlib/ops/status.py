"""``vvtvctl ops status``: one consolidated health view with a verdict.

    station   on air, segment age, buffer, workers, the flags the supervisor applies
    pool      providers enabled/usable, breakers (a running pool's pool/health.json)
    api       ready, 5xx share and p95 of the recent requests
    slo       each SLO's error budget (from Prometheus or a recording, when given)

Each component is ``green``, ``amber`` (look at it) or ``red`` (act); a component that is
not set up on this root is ``absent`` and does not colour the verdict. The verdict is the
worst colour; the CLI exits 1 when it is red.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import VVTVError
from vvtvlib.core.features import FlagWatcher, flags_path
from vvtvlib.core.layout import StationLayout

ORDER = {"absent": 0, "green": 1, "amber": 2, "red": 3}

# The seed's thresholds: segment_age > 10 s is rb_streaming's symptom; buffer < 30 min
# calls for the emergency loop; the SLO objective for segment age is 6 s.
SEGMENT_AGE_AMBER_S = 6.0
SEGMENT_AGE_RED_S = 10.0
BUFFER_AMBER_MIN = 30.0
API_5XX_RED = 0.01
API_P95_AMBER_MS = 1500.0


@dataclass
class Component:
    name: str
    verdict: str
    summary: str
    problems: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpsStatus:
    root: str
    verdict: str
    components: list[Component]

    @property
    def red(self) -> bool:
        return self.verdict == "red"

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def worst(verdicts: list[str]) -> str:
    return max(verdicts, key=lambda v: ORDER[v], default="green")


def _colour(problems: list[tuple[str, str]]) -> tuple[str, list[str]]:
    return worst([v for v, _ in problems] or ["green"]), [m for _, m in problems]


# ----------------------------------------------------------------------------- station
def station_component(root: Path) -> Component:
    from vvtvlib.station import api as station

    layout = StationLayout.at(root)
    try:
        st = station.status(layout)
    except VVTVError as exc:
        return Component("station", "absent", exc.message)
    issues: list[tuple[str, str]] = []
    if not st.up:
        issues.append(("red", "the station supervisor is down"))
    else:
        if not st.encoder_running:
            issues.append(("red", "the encoder is not running"))
        age = st.segment_age_s
        if age is None:
            issues.append(("red" if st.encoder_uptime_s > 20 else "amber",
                           "no live segment yet"))
        elif age > SEGMENT_AGE_RED_S:
            issues.append(("red", f"segment age {age:.1f} s > {SEGMENT_AGE_RED_S:g} s"))
        elif age > SEGMENT_AGE_AMBER_S:
            issues.append(("amber", f"segment age {age:.1f} s > {SEGMENT_AGE_AMBER_S:g} s"))
        for worker, err in st.worker_errors.items():
            issues.append(("amber", f"worker {worker} failed a job: {err[:120]}"))
    buffer_min = st.queue_buffer_s / 60.0
    if buffer_min < BUFFER_AMBER_MIN:
        issues.append(("amber", f"buffer {buffer_min:.1f} min < {BUFFER_AMBER_MIN:g} min "
                       "(inject the emergency loop)"))
    paused = sorted(w for w, p in st.paused.items() if p)
    if paused:
        issues.append(("amber", f"workers paused: {', '.join(paused)}"))
    features = st.features or {}
    if features.get("error"):
        issues.append(("red", f"feature flags invalid, last good kept: {features['error']}"))
    verdict, problems = _colour(issues)
    summary = (f"{'on air' if st.up and st.encoder_running else 'OFF AIR'}; segment age "
               f"{'-' if st.segment_age_s is None else f'{st.segment_age_s:.1f} s'}; buffer "
               f"{buffer_min:.1f} min; in progress {st.in_progress}")
    return Component("station", verdict, summary, problems, {
        "up": st.up, "encoder_running": st.encoder_running,
        "encoder_restarts": st.encoder_restarts, "segment_age_s": st.segment_age_s,
        "queue_buffer_min": round(buffer_min, 2), "paused": st.paused,
        "in_progress_by_worker": st.in_progress_by_worker, "features": features})


# ----------------------------------------------------------------------------- flags
def flags_component(root: Path) -> Component:
    w = FlagWatcher(flags_path(root))
    flags = w.current()
    drained = [s for s in ("pool", "api", "streaming", "planner")
               if getattr(flags.drain, s)]
    issues: list[tuple[str, str]] = []
    if w.error:
        issues.append(("red", f"{w.error} (running services keep the last good flags)"))
    if drained:
        issues.append(("amber", f"drained: {', '.join(drained)} ({flags.drain.reason})"))
    verdict, problems = _colour(issues)
    return Component("flags", verdict, f"{len(flags.flat())} flags from {w.path}"
                     if w.path.exists() else "defaults (no flags file)", problems,
                     {"flags": flags.flat(), "drained": drained})


# ----------------------------------------------------------------------------- pool
def pool_component(root: Path) -> Component:
    from vvtvlib.pool import load_pool_config, providers_path
    from vvtvlib.pool.config import pool_dir
    from vvtvlib.pool.state import read_disabled

    path = providers_path(root)
    if not path.exists():
        return Component("pool", "absent", f"no pool on this root ({path})")
    try:
        cfg = load_pool_config(path)
        disabled = read_disabled(pool_dir(root) / "state.toml")
    except VVTVError as exc:
        return Component("pool", "red", exc.message, [exc.message])
    live: dict[str, dict[str, Any]] = {}
    try:
        data = json.loads((pool_dir(root) / "health.json").read_text())
        live = {row["id"]: row for row in data["providers"]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    rows = []
    issues: list[tuple[str, str]] = []
    for p in cfg.providers:
        row = live.get(p.id, {})
        breaker = str(row.get("breaker", "closed"))
        rows.append({"id": p.id, "enabled": p.id not in disabled, "breaker": breaker,
                     "p95_ms": row.get("p95_ms"), "error_rate": row.get("error_rate")})
        if breaker == "open":
            issues.append(("amber", f"breaker open on {p.id}"))
        if p.id in disabled:
            issues.append(("amber", f"provider {p.id} disabled"))
    usable = [r for r in rows if r["enabled"] and r["breaker"] != "open"]
    if not usable:
        issues.append(("red", "no usable provider"))
    verdict, problems = _colour(issues)
    return Component("pool", verdict, f"{len(usable)}/{len(rows)} providers usable",
                     problems, {"providers": rows})


# ----------------------------------------------------------------------------- api
def api_component(root: Path) -> Component:
    try:
        from vvtvlib.api.supervisor import api_status
    except ImportError:  # a toolkit without the public API
        return Component("api", "absent", "the public API is not installed")
    st = api_status(root)
    if not st.get("up"):
        cfg = root / "api" / "configs" / "api.toml"
        if not cfg.exists():
            return Component("api", "absent", "no API on this root")
        return Component("api", "red", "the API is down", ["the API supervisor is down"])
    issues: list[tuple[str, str]] = []
    if not st.get("ready"):
        issues.append(("red", "/v1/health/ready does not answer 200"))
    dead = [p["name"] for p in st.get("processes", []) if not p.get("alive")]
    if dead:
        issues.append(("red", f"processes down: {', '.join(dead)}"))
    recent = recent_requests(root)
    if recent["requests"]:
        if recent["share_5xx"] > API_5XX_RED:
            issues.append(("red", f"5xx {recent['share_5xx']:.1%} > {API_5XX_RED:.0%}"))
        if recent["p95_ms"] is not None and recent["p95_ms"] > API_P95_AMBER_MS:
            issues.append(("amber", f"p95 {recent['p95_ms']:.0f} ms > "
                           f"{API_P95_AMBER_MS:.0f} ms"))
    verdict, problems = _colour(issues)
    p95 = "-" if recent["p95_ms"] is None else f"{recent['p95_ms']:.0f} ms"
    return Component("api", verdict, f"{'ready' if st.get('ready') else 'NOT READY'} at "
                     f"{st.get('base_url')}; last {recent['requests']} requests: 5xx "
                     f"{recent['share_5xx']:.1%}, p95 {p95}", problems,
                     {**recent, "base_url": st.get("base_url")})


def recent_requests(root: Path, last: int = 500) -> dict[str, Any]:
    """5xx share and p95 of the last requests the API recorded (``usage_events`` in
    ``data/tenants.sqlite``, read-only)."""
    import sqlite3

    db = root / "data" / "tenants.sqlite"
    rows: list[tuple[int, int]] = []
    if db.exists():
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
            try:
                rows = conn.execute("SELECT status, duration_ms FROM usage_events "
                                    "ORDER BY rowid DESC LIMIT ?", (last,)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            rows = []
    statuses = [int(r[0]) for r in rows]
    durations = sorted(float(r[1]) for r in rows if r[1] is not None)
    p95 = durations[min(len(durations) - 1, int(0.95 * len(durations)))] if durations else None
    n = len(statuses)
    return {"requests": n, "share_5xx": (sum(s >= 500 for s in statuses) / n) if n else 0.0,
            "p95_ms": p95}


# ----------------------------------------------------------------------------- slo
def slo_component(catalog_dir: Path, prometheus: str | None, samples: Path | None
                  ) -> Component:
    from .budget import budget_from_file, budget_from_prometheus
    from .catalog import load_catalog

    if prometheus is None and samples is None:
        return Component("slo", "absent", "no --prometheus or --samples: budgets not read")
    try:
        cat = load_catalog(catalog_dir)
        rows = (budget_from_prometheus(cat, prometheus) if prometheus
                else budget_from_file(cat, samples))  # type: ignore[arg-type]
    except VVTVError as exc:
        return Component("slo", "amber", f"budgets not read: {exc.message}", [exc.message])
    issues: list[tuple[str, str]] = []
    for r in rows:
        if r.consumed is None:
            continue
        if r.consumed >= 1.0:
            issues.append(("red", f"{r.slo}: budget spent ({r.consumed:.0%})"))
        elif r.consumed >= 0.5:
            issues.append(("amber", f"{r.slo}: {r.consumed:.0%} of the budget spent"))
    verdict, problems = _colour(issues)
    return Component("slo", verdict, f"{len(rows)} SLOs", problems,
                     {"budgets": [r.to_dict() for r in rows]})


def ops_status(root: str | Path | None, *, catalog_dir: Path, prometheus: str | None = None,
               samples: Path | None = None) -> OpsStatus:
    lay = StationLayout.at(root)
    comps = [station_component(lay.root), flags_component(lay.root), pool_component(lay.root),
             api_component(lay.root), slo_component(catalog_dir, prometheus, samples)]
    return OpsStatus(str(lay.root), worst([c.verdict for c in comps]), comps)
