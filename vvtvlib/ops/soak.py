"""The soak: hours of 5-10 rps of signed requests on the public API with the game-day
monitoring on (Prometheus + Alertmanager + the on-call receiver), judged on the API SLO.

    run_soak(root, out, duration_s=7200, rps=8) -> SoakResult   (``make soak``)

The load is ``vvtvlib.api.chaos``' paced open-loop window (signed like the seed's client);
the verdict: p95 of /v1/infer within the SLO (1.2 s) and 5xx under 0.5 %, both as clients
saw them and as Prometheus recorded them, plus the alerts that fired and the pages sent.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import UsageError
from vvtvlib.core.fsio import atomic_write

from .gamedays import fired_alerts
from .obs import PromClient, lab_banner


@dataclass
class SoakResult:
    passed: bool
    duration_s: float
    rps: float
    client: dict[str, Any]
    prometheus: dict[str, Any]
    alerts: dict[str, int]
    pages: list[dict[str, Any]] = field(default_factory=list)
    report: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_soak(root: str | Path, out: str | Path, *, duration_s: float = 7200, rps: float = 8,
             p95_ms: float = 1200, max_5xx: float = 0.005, api_profile: str = "nginx"
             ) -> SoakResult:
    from vvtvlib.api.chaos import load_outcome, start_load

    from .gameday_lab import GamedayLab

    if not 5 <= rps <= 10:
        raise UsageError(f"--rps must be between 5 and 10 for the soak, got {rps:g}")
    root = Path(root).absolute()
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    with GamedayLab(root, time_scale=1, scrape="5s", station=True,
                    api_profile=api_profile) as lab:
        assert lab.obs is not None and lab.receiver is not None
        t0 = time.time()
        start_load(str(root), "soak", seconds=duration_s, rps=rps)
        outcome = load_outcome(str(root), "soak")
        t1 = time.time()
        time.sleep(6)  # the last scrape
        prom = PromClient(lab.obs.prometheus_url)
        span = f"{int(t1 - t0) + 5}s"
        p95 = prom.scalar("histogram_quantile(0.95, sum by (le) (rate(api_http_duration_ms_"
                          f'bucket{{route="/v1/infer"}}[{span}])))')
        total = prom.scalar(f"sum(increase(api_requests_total[{span}]))") or 0.0
        bad = prom.scalar(f'sum(increase(api_requests_total{{code=~"5.."}}[{span}]))') or 0.0
        fired = {k: len(v) for k, v in fired_alerts(str(root), t0, t1).items()}
        pages = lab.receiver.pages()
    client = outcome["window"]
    prometheus = {"p95_ms": p95, "requests": total, "5xx": bad,
                  "rate_5xx": (bad / total) if total else None}
    passed = (client["p95_ms"] is not None and client["p95_ms"] <= p95_ms
              and client["rate_5xx"] < max_5xx and p95 is not None and p95 <= p95_ms
              and total > 0 and bad / total < max_5xx)
    res = SoakResult(passed, round(t1 - t0, 1), rps, client, prometheus, fired, pages)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = out / f"soak-{stamp}.md"
    lines = [f"# Soak: {res.duration_s / 3600:.2f} h at {rps:g} rps on the public API", "",
             f"> {lab_banner(1)}", "",
             f"**{'PASS' if passed else 'FAIL'}**: p95 of /v1/infer <= {p95_ms:g} ms and 5xx "
             f"< {max_5xx:.1%}, as clients saw it (through {api_profile}) and as Prometheus "
             "recorded it.", "",
             "| measure | clients | Prometheus |", "|---|---|---|",
             f"| requests | {client['requests']} | {total:.0f} |",
             f"| p95 ms | {client['p95_ms']} | {p95 if p95 is None else round(p95, 1)} |",
             f"| 5xx rate | {client['rate_5xx']:.3%} | "
             f"{'-' if not total else f'{bad / total:.3%}'} |",
             f"| status counts | {json.dumps(client['status_counts'])} | |", "",
             "## Alerts that fired (seconds firing)", ""]
    lines += [f"* {k}: {v} s" for k, v in sorted(fired.items())] or ["* none"]
    lines += ["", "## Pages sent by the on-call receiver", ""]
    lines += [f"* {p['alert']}: L{p.get('level')} {p.get('person')} at {p.get('at')}"
              for p in pages] or ["* none"]
    atomic_write(report, "\n".join(lines) + "\n")
    res.report = str(report)
    atomic_write(report.with_suffix(".json"), json.dumps(res.to_dict(), indent=2, default=str))
    return res


__all__ = ["SoakResult", "run_soak"]
