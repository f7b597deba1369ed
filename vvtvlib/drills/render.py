"""Tables and figures of a revival for drill reports (pandas and matplotlib, no I/O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vvtvlib.revival.phases import RevivalReport
from vvtvlib.vault.history import GenerationRecord


def phase_table(report: RevivalReport) -> Any:
    import pandas as pd

    rows = [{"phase": str(p.name), "status": str(p.status), "seconds": p.duration_s,
             "warnings": "; ".join(p.warnings)} for p in report.steps]
    rows.append({"phase": "total (RTO)", "status": report.status, "seconds": report.rto_s,
                 "warnings": ""})
    return pd.DataFrame(rows)


def phase_chart(report: RevivalReport, goal_s: float | None = None) -> Any:
    """Horizontal bars per phase, stacked into the RTO, with the goal as a line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.0))
    left = 0.0
    for p in report.steps:
        ax.barh(["RTO"], [p.duration_s], left=left, label=f"{p.name} {p.duration_s:.2f} s")
        left += p.duration_s
    if goal_s is not None:
        ax.axvline(goal_s, color="red", linestyle="--", label=f"goal {goal_s:g} s")
    ax.set_xlabel("seconds")
    ax.set_title(f"Revival phases: RTO {report.rto_s:.2f} s")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.42), ncol=4, fontsize="small")
    fig.tight_layout()
    return fig


def checks_table(continuity: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.DataFrame([{"check": c["name"], "value": c["value"], "threshold": c["threshold"],
                          "result": "PASS" if c["passed"] else "FAIL"}
                         for c in continuity.get("checks", [])])


def frames_figure(final_frame: str | Path, first_frame: str | Path,
                  continuity: dict[str, Any]) -> Any:
    """The ritual's final frame and the first frame after revival, side by side."""
    import matplotlib.pyplot as plt
    from PIL import Image

    m = continuity.get("metrics", {})
    th = continuity.get("thresholds", {})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, path, title in ((axes[0], final_frame, "final_frame.jpg (ritual)"),
                            (axes[1], first_frame, "first_frame_after_revive.jpg")):
        ax.imshow(Image.open(path))
        ax.set_title(title)
        ax.axis("off")
    fig.suptitle(f"phash distance {m.get('phash_distance')} (<= {th.get('phash_max_distance')})"
                 f" | PSNR {m.get('psnr_db')} dB (>= {th.get('psnr_min_db')})"
                 f" | SSIM {m.get('ssim')} (>= {th.get('ssim_min')})")
    fig.tight_layout()
    return fig


def history_table(records: list[GenerationRecord]) -> Any:
    import pandas as pd

    def short(text: str | None) -> str:
        return f"{text[:16]}..." if text else "-"

    return pd.DataFrame([{"generation": r.generation, "kind": r.kind, "stamp": r.stamp,
                          "signature": short(r.signature),
                          "ancestor_signature": short(r.ancestor_signature),
                          "document": r.document} for r in records])


def failure_table(report: dict[str, Any]) -> Any:
    import pandas as pd

    failure = report.get("failure") or {}
    keys = ("phase", "error", "message", "path", "expected", "actual", "target_untouched")
    return pd.DataFrame([{"field": k, "value": str(failure.get(k))} for k in keys])
