"""The soak: hours of 5-10 rps of signed requests on the public API with the game-day
monitoring on (Prometheus + Alertmanager + the on-call receiver), judged on the API SLO.

    run_soak(root, out, duration_s=7200, rps=8) -> SoakResult   (``make soak``)

The load is ``vvtvlib.api.chaos``' paced open-loop window (signed like the seed's client);
the verdict: p95 of /v1/infer within the SLO (1.2 s) and 5xx under 0.5 %, both as clients
saw them and as Prometheus recorded them, plus the alerts that fired and the pages sent.
The report also cuts the run into time buckets (p95, 5xx and rps per bucket, with a plot),
so that a slow drift or one bad quarter of an hour shows even when the totals pass;
``render_report`` renders it again from the files a run left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vvtvlib.api.loadtest import Sample, read_samples
from vvtvlib.core.errors import UsageError
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.stats import percentile

from .gamedays import fired_alerts
from .obs import PromClient, lab_banner

Progress = Callable[[float, float], None]  # (seconds done, seconds in all)


@dataclass(frozen=True)
class SoakBucket:
    """One slice of the run, as clients saw it."""
    start_s: float
    seconds: float
    requests: int
    rps: float
    p95_ms: float | None
    rate_5xx: float
    within_slo: bool


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
    p95_slo_ms: float = 1200
    max_5xx: float = 0.005
    samples_csv: str = ""
    timeline: list[SoakBucket] = field(default_factory=list)
    plot: str = ""
    window_s: float = 0.0  # the load window asked for (duration_s is as measured)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SoakResult:
        d = dict(data)
        d["timeline"] = [SoakBucket(**b) for b in d.get("timeline") or []]
        return cls(**d)


def bucket_seconds(duration_s: float) -> float:
    """About 24 slices a run, each 10 s to 5 min long."""
    return float(min(300, max(10, round(duration_s / 24))))


def soak_timeline(samples: list[Sample], duration_s: float, *, p95_slo_ms: float,
                  max_5xx: float) -> list[SoakBucket]:
    """The run cut into buckets of ``bucket_seconds(duration_s)``."""
    size = bucket_seconds(duration_s)
    n = max(1, int(-(-duration_s // size)))
    slices: list[list[Sample]] = [[] for _ in range(n)]
    for s in samples:
        slices[min(n - 1, max(0, int(s.t_s // size)))].append(s)
    out = []
    for i, group in enumerate(slices):
        secs = min(size, max(0.0, duration_s - i * size)) or size
        answered = [s.ms for s in group if s.status != 0]
        fives = sum(1 for s in group if s.status >= 500 or s.status == 0)
        p95 = percentile(answered, 95, 1)
        rate = round(fives / len(group), 5) if group else 0.0
        out.append(SoakBucket(i * size, secs, len(group), round(len(group) / secs, 2), p95,
                              rate, bool(group) and p95 is not None and p95 <= p95_slo_ms
                              and rate < max_5xx))
    return out


def soak_figure(res: SoakResult) -> Any:
    """p95 and the 5xx rate per bucket against their SLO lines, and the offered rps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [(b.start_s + b.seconds / 2) / 60 for b in res.timeline]
    fig, axes = plt.subplots(3, 1, figsize=(10, 7.5), sharex=True)
    ax = axes[0]
    ax.plot(t, [b.p95_ms if b.p95_ms is not None else float("nan") for b in res.timeline],
            marker=".", color="#0969da", label="p95 of /v1/infer (clients)")
    ax.axhline(res.p95_slo_ms, color="red", linestyle="--", label=f"SLO {res.p95_slo_ms:g} ms")
    ax.set_ylabel("ms")
    ax.legend(loc="best", fontsize="small")
    ax = axes[1]
    ax.bar(t, [b.rate_5xx * 100 for b in res.timeline],
           width=max(0.1, (res.timeline[0].seconds / 60) * 0.8) if res.timeline else 1,
           color="#cf222e", label="5xx and no answer, %")
    ax.axhline(res.max_5xx * 100, color="red", linestyle="--",
               label=f"limit {res.max_5xx:.1%}")
    ax.set_ylabel("%")
    ax.legend(loc="best", fontsize="small")
    ax = axes[2]
    ax.plot(t, [b.rps for b in res.timeline], marker=".", color="#1a7f37",
            label="requests per second (every answer)")
    ax.axhline(res.rps, color="grey", linestyle=":", label=f"offered {res.rps:g} rps")
    ax.set_ylabel("rps")
    ax.set_xlabel("minutes into the soak")
    ax.legend(loc="best", fontsize="small")
    fig.suptitle(f"Soak {res.duration_s / 3600:.2f} h at {res.rps:g} rps: "
                 f"{'PASS' if res.passed else 'FAIL'}")
    fig.tight_layout()
    return fig


def render_report(res: SoakResult, out: str | Path, stamp: str | None = None,
                  time_scale: float = 1, api_profile: str = "nginx") -> SoakResult:
    """Write ``soak-<stamp>.md``, ``.png`` and ``.json`` into ``out`` (timeline and plot
    computed from ``res.samples_csv`` when it is there)."""
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if res.samples_csv and Path(res.samples_csv).is_file():
        res.timeline = soak_timeline(read_samples(res.samples_csv),
                                     res.window_s or res.duration_s,
                                     p95_slo_ms=res.p95_slo_ms, max_5xx=res.max_5xx)
    report = out / f"soak-{stamp}.md"
    client, prom = res.client, res.prometheus
    total, bad, p95 = prom.get("requests") or 0, prom.get("5xx") or 0, prom.get("p95_ms")
    lines = [f"# Soak: {res.duration_s / 3600:.2f} h at {res.rps:g} rps on the public API", "",
             f"> {lab_banner(time_scale)}", "",
             f"**{'PASS' if res.passed else 'FAIL'}**: p95 of /v1/infer <= {res.p95_slo_ms:g} "
             f"ms and 5xx < {res.max_5xx:.1%}, as clients saw it (through {api_profile}) and "
             "as Prometheus recorded it.", "",
             "| measure | clients | Prometheus |", "|---|---|---|",
             f"| requests | {client['requests']} | {total:.0f} |",
             f"| p95 ms | {client['p95_ms']} | {p95 if p95 is None else round(p95, 1)} |",
             f"| 5xx rate | {client['rate_5xx']:.3%} | "
             f"{'-' if not total else f'{bad / total:.3%}'} |",
             f"| status counts | {json.dumps(client['status_counts'])} | |", ""]
    if res.timeline:
        fig = soak_figure(res)
        png = report.with_suffix(".png")
        fig.savefig(png, dpi=90)
        res.plot = str(png)
        worst = max(res.timeline, key=lambda b: b.p95_ms or 0)
        missed = [b for b in res.timeline if b.requests and not b.within_slo]
        lines += [f"## Over time ({res.timeline[0].seconds:g} s buckets)", "",
                  f"![p95, 5xx and rps per bucket]({png.name})", "",
                  f"{len(missed)} of {len(res.timeline)} buckets missed the SLO; the worst "
                  f"p95 was {worst.p95_ms} ms at minute {worst.start_s / 60:g}.", "",
                  "| from min | requests | rps | p95 ms | 5xx | within SLO |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {b.start_s / 60:g} | {b.requests} | {b.rps:g} | {b.p95_ms} | "
                  f"{b.rate_5xx:.2%} | {'yes' if b.within_slo else '**no**'} |"
                  for b in res.timeline]
        lines.append("")
    lines += ["## Alerts that fired (seconds firing)", ""]
    lines += [f"* {k}: {v} s" for k, v in sorted(res.alerts.items())] or ["* none"]
    lines += ["", "## Pages sent by the on-call receiver", ""]
    lines += [f"* {p['alert']}: L{p.get('level')} {p.get('person')} at {p.get('at')}"
              for p in res.pages] or ["* none"]
    res.report = str(report)
    atomic_write(report, "\n".join(lines) + "\n")
    atomic_write(report.with_suffix(".json"), json.dumps(res.to_dict(), indent=2, default=str))
    return res


def run_soak(root: str | Path, out: str | Path, *, duration_s: float = 7200, rps: float = 8,
             p95_ms: float = 1200, max_5xx: float = 0.005, api_profile: str = "nginx",
             progress: Progress | None = None) -> SoakResult:
    from vvtvlib.api.chaos import load_outcome, start_load

    from .gameday_lab import GamedayLab

    if not 5 <= rps <= 10:
        raise UsageError(f"--rps must be between 5 and 10 for the soak, got {rps:g}")
    if duration_s <= 0:
        raise UsageError(f"--duration must be a positive number of seconds, got {duration_s:g}")
    root = Path(root).absolute()
    with GamedayLab(root, time_scale=1, scrape="5s", station=True,
                    api_profile=api_profile) as lab:
        assert lab.obs is not None and lab.receiver is not None
        t0 = time.time()
        start_load(str(root), "soak", seconds=duration_s, rps=rps)
        while (done := time.time() - t0) < duration_s:
            if progress is not None:
                progress(done, duration_s)
            time.sleep(min(5.0, duration_s - done))
        outcome = load_outcome(str(root), "soak")
        t1 = time.time()
        if progress is not None:
            progress(duration_s, duration_s)
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
    res = SoakResult(passed, round(t1 - t0, 1), rps, client, prometheus, fired, pages,
                     p95_slo_ms=p95_ms, max_5xx=max_5xx,
                     samples_csv=str(outcome.get("samples_csv", "")), window_s=duration_s)
    return render_report(res, out, api_profile=api_profile)


__all__ = ["SoakBucket", "SoakResult", "bucket_seconds", "render_report", "run_soak",
           "soak_figure", "soak_timeline"]
