"""What drill N6 (``notebooks/n6_load_chaos_drill.ipynb``) shows: the chaos experiments'
numbers as one table and latency over time with the chaos windows shaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vvtvlib.api.chaos import ChaosVerdict
from vvtvlib.api.config import ApiLayout
from vvtvlib.api.loadtest import read_samples


def _output(v: ChaosVerdict, activity: str) -> dict[str, Any]:
    return next((a.output for a in v.activities
                 if a.name == activity and isinstance(a.output, dict)), {})


def chaos_rows(verdicts: dict[str, ChaosVerdict]) -> list[dict[str, Any]]:
    """One row per experiment with the numbers its journal holds."""
    rows: list[dict[str, Any]] = []
    if "provider-down" in verdicts:
        down = _output(verdicts["provider-down"], "the-load-window-under-failure")
        w = down.get("window") or {}
        rows.append({"experiment": "provider-down", "passed": verdicts["provider-down"].passed,
                     "killed": down.get("killed_provider"),
                     "breaker opens": down.get("breaker_opens"), "502 rate": w.get("rate_502"),
                     "p95 ms": w.get("p95_ms"), "p95 over SLO ms": w.get("p95_over_slo_ms")})
    if "provider-latency" in verdicts:
        lat = _output(verdicts["provider-latency"], "deadlines-are-respected")
        w = lat.get("window") or {}
        rows.append({"experiment": "provider-latency",
                     "passed": verdicts["provider-latency"].passed,
                     "late answers": lat.get("late_answers"),
                     "max overrun ms": lat.get("max_overrun_ms"), "504 rate": w.get("rate_504"),
                     "p95 ms": w.get("p95_ms"), "p95 over SLO ms": w.get("p95_over_slo_ms")})
    if "bad-signature-flood" in verdicts:
        v = verdicts["bad-signature-flood"]
        flood = _output(v, "flood-bad-signatures")
        w = _output(v, "legitimate-tenant-unaffected").get("window") or {}
        rows.append({"experiment": "bad-signature-flood", "passed": v.passed,
                     "rejections": flood.get("rejected_401"), "flood rps": flood.get("rps"),
                     "CPU ms / rejection": flood.get("cpu_ms_per_rejection"),
                     "p95 ms": w.get("p95_ms"), "5xx rate": w.get("rate_5xx")})
    return rows


def latency_figure(samples_csv: str | Path, root: str | Path, flood_s: float,
                   kill_after_s: float = 3.0, flood_after_s: float = 1.0) -> Any:
    """Four panels: every request of the sustained profile by user class, then each chaos
    window's requests over time with the fault shaded."""
    import matplotlib.pyplot as plt

    samples = read_samples(samples_csv)
    fig, axes = plt.subplots(4, 1, figsize=(10, 11))
    ax = axes[0]
    for user, colour in (("hmac", "#0969da"), ("jwt", "#8250df"), ("abusive", "#bf8700")):
        pts = [(s.t_s, s.ms) for s in samples if s.user == user]
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=6, c=colour, label=user)
    ax.axhline(1200, ls="--", c="#cf222e", label="SLO p95 1.2 s")
    ax.set_yscale("log")
    ax.set_title(f"{Path(samples_csv).stem}: latency of every request")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)
    windows = {"provider-down": (kill_after_s, None), "provider-latency": (0.0, None),
               "legit-during-flood": (flood_after_s, flood_after_s + flood_s)}
    folder = ApiLayout(root).run / "chaos"
    for ax, (name, (start, end)) in zip(axes[1:], windows.items(), strict=True):
        f = folder / f"{name}.outcome.json"
        if not f.exists():
            ax.set_title(f"{name}: no outcome")
            continue
        tl = json.loads(f.read_text())["timeline"]
        ok = [(t, ms) for t, st, ms in tl if st == 200]
        bad = [(t, ms) for t, st, ms in tl if st != 200]
        if ok:
            ax.scatter(*zip(*ok, strict=True), s=8, c="#1a7f37", label="200")
        if bad:
            ax.scatter(*zip(*bad, strict=True), s=12, c="#cf222e", label="not 200")
        last = max((t for t, _, _ in tl), default=1.0) + 0.5
        ax.axvspan(start, end if end is not None else last, color="#cf222e", alpha=0.12,
                   label="fault")
        ax.axhline(1200, ls="--", c="#cf222e")
        ax.set_ylabel("ms")
        ax.legend(fontsize=7)
        ax.set_title(f"chaos {name}: latency over the window")
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    return fig
