"""Pre-check verdicts (seed M1 step 1) as pure functions of measured values.

A pre-check never changes anything: ``probe.measure`` reads the station, these functions
judge the readings against ``[prechecks]``. Any FAIL is a hard stop. An unreadable CPU
temperature is a WARN (the seed checks it "where readable"); ``--strict`` turns every WARN
into a FAIL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from .config import Prechecks

WORKERS = ("planner", "realizer", "discovery")


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass
class CheckResult:
    """One pre-check: what was measured against which threshold, and the verdict."""

    name: str
    verdict: Verdict
    measured: Any
    threshold: str  # with its unit: "> 15 %"
    unit: str = ""  # of ``measured``
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAIL

    def sentence(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        got = f"{self.measured}{unit}" if isinstance(self.measured, (int, float)) \
            else str(self.measured)
        text = f"{self.name}: measured {got}, threshold {self.threshold}"
        return f"{text} ({self.detail})" if self.detail else text

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict.value
        return out


@dataclass(frozen=True)
class Measurements:
    """Everything the pre-checks look at, read once from the live station."""

    queue_buffer_s: float
    workers_paused: dict[str, bool]
    queue_frozen: bool
    encoder_running: bool
    encoder_uptime_s: float | None
    encoder_restarts: int
    segment_age_s: float | None
    databases: dict[str, str]  # name -> "ok" or what integrity_check said
    disk_free_pct: float
    disk_path: str
    cpu_temp_c: float | None
    cpu_temp_source: str | None = None
    signing_key: str = "ok"  # "ok" or why the foundation key cannot sign
    evidence_log: str = "ok"  # "ok" or why vault/m1_artifacts.jsonl cannot be extended
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def paused(self) -> bool:
        """The seed's ``paused=true``: nothing feeds or reorders the queue any more."""
        return all(self.workers_paused.get(w, False) for w in WORKERS)


def check_queue_buffer(m: Measurements, t: Prechecks) -> CheckResult:
    ok = m.queue_buffer_s >= t.queue_min_buffer_s or m.paused
    detail = "workers paused" if m.paused else "workers running"
    return CheckResult("queue_buffer", Verdict.PASS if ok else Verdict.FAIL,
                       round(m.queue_buffer_s, 1), f">= {t.queue_min_buffer_s:g} s or paused", "s",
                       detail)


def check_encoder_stable(m: Measurements, t: Prechecks) -> CheckResult:
    # Uptime since the last (re)start covers "no restarts in the window".
    uptime = m.encoder_uptime_s
    ok = m.encoder_running and uptime is not None and uptime > t.encoder_stable_s
    if not m.encoder_running:
        detail = "encoder not running"
    else:
        detail = f"{m.encoder_restarts} restart(s) since the station came up"
    return CheckResult("encoder_stable", Verdict.PASS if ok else Verdict.FAIL,
                       None if uptime is None else round(uptime, 1),
                       f"> {t.encoder_stable_s:g} s", "s", detail)


def check_stream_live(m: Measurements, t: Prechecks) -> CheckResult:
    age = m.segment_age_s
    ok = age is not None and age <= t.stream_max_segment_age_s
    return CheckResult("stream_live", Verdict.PASS if ok else Verdict.FAIL,
                       None if age is None else round(age, 1),
                       f"<= {t.stream_max_segment_age_s:g} s", "s",
                       "newest HLS segment age" if age is not None else "no HLS segment")


def check_databases(m: Measurements) -> list[CheckResult]:
    if not m.databases:
        return [CheckResult("db_integrity", Verdict.FAIL, "no databases", "ok", "",
                            "no data/*.sqlite found")]
    return [CheckResult(f"db_integrity:{name}", Verdict.PASS if res == "ok" else Verdict.FAIL,
                        res, "ok", "", "PRAGMA integrity_check")
            for name, res in sorted(m.databases.items())]


def check_disk_free(m: Measurements, t: Prechecks) -> CheckResult:
    ok = m.disk_free_pct > t.disk_free_min_pct
    return CheckResult("disk_free", Verdict.PASS if ok else Verdict.FAIL,
                       round(m.disk_free_pct, 2), f"> {t.disk_free_min_pct:g} %", "%", m.disk_path)


def check_cpu_temp(m: Measurements, t: Prechecks, *, strict: bool) -> CheckResult:
    if m.cpu_temp_c is None:
        return CheckResult("cpu_temp", Verdict.FAIL if strict else Verdict.WARN, "unreadable",
                           f"< {t.cpu_temp_max_c:g} °C", "°C",
                           "no thermal sensor readable (strict: refused)" if strict
                           else "no thermal sensor readable")
    ok = m.cpu_temp_c < t.cpu_temp_max_c
    return CheckResult("cpu_temp", Verdict.PASS if ok else Verdict.FAIL, round(m.cpu_temp_c, 1),
                       f"< {t.cpu_temp_max_c:g} °C", "°C", m.cpu_temp_source or "")


def check_signing_key(m: Measurements) -> CheckResult:
    # Found out before anything is frozen: a ritual that cannot sign must not start.
    return CheckResult("signing_key", Verdict.PASS if m.signing_key == "ok" else Verdict.FAIL,
                       m.signing_key, "ok", "", "vault/keys/foundation_ed25519")


def check_evidence_log(m: Measurements) -> CheckResult:
    # A log the ritual could not extend would fail it half-way, after the freeze: refuse first.
    return CheckResult("evidence_log", Verdict.PASS if m.evidence_log == "ok" else Verdict.FAIL,
                       m.evidence_log, "ok", "", "vault/m1_artifacts.jsonl chain and head")


def evaluate(m: Measurements, t: Prechecks, *, strict: bool = False) -> list[CheckResult]:
    """Every verdict, in the seed's order (then the signing key and the evidence log)."""
    return [check_queue_buffer(m, t), check_encoder_stable(m, t), check_stream_live(m, t),
            *check_databases(m), check_disk_free(m, t), check_cpu_temp(m, t, strict=strict),
            check_signing_key(m), check_evidence_log(m)]


def refusal_message(results: list[CheckResult]) -> str:
    failed = [r for r in results if r.failed]
    return "pre-check failed, nothing was changed: " + "; ".join(r.sentence() for r in failed)
