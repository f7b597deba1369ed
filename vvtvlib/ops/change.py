"""Change requests: ``ops/change_requests/CR-YYYYMMDD-<slug>.md``, their preflight and
their application with an automatic rollback.

A CR is Markdown with a YAML front matter (owner, approval, window, the flag changes it
applies, its smoke settings). ``preflight`` runs every check as a step of the one step
runner and reports each PASS/FAIL with its reason (it does not stop at the first):

    cr          the front matter validates and an approver is named
    validate    ``validate all`` (TOML/YAML, catalog, flags, runbooks) without promtool
    promtool    ``promtool check rules`` and ``promtool test rules``
    smoke       a short Locust run against the lab API (FAIL when the API is not up)
    window      the time (``--at`` or the clock) is inside the CR's window (Sunday
                02:00-03:00 UTC by default) and outside every freeze of ``freeze.yaml``
    budget      no SLO has spent more than its share of its error budget (``policy.yaml``),
                from Prometheus or a recording

``apply`` refuses a CR whose preflight failed, applies its flag changes (audited, reason the
CR id), waits for the running services to apply them, runs the post-change smoke, and rolls
every flag back to its old value by itself when the smoke fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.errors import CheckFailed, ConfigError, UsageError, VVTVError
from vvtvlib.core.features import flags_path
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.steps import Journal, Outcome, Step, StepContext, StepStatus, run_steps

from . import flags as flags_mod
from .oncall.escalation import DAYS, Hours

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
CR_NAME = re.compile(r"^CR-\d{8}-[a-z0-9][a-z0-9-]*$")


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approved_by: str = ""
    approved_at: str = ""


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    day: str = "sun"
    from_: str = Field(default="02:00", alias="from")
    to: str = "03:00"

    def covers(self, at: datetime) -> bool:
        if self.day not in DAYS:
            raise ConfigError(f"window day {self.day!r} is not one of {DAYS}")
        return Hours.model_validate({"days": [self.day], "from": self.from_, "to": self.to}
                                    ).covers(at)

    def text(self) -> str:
        return f"{self.day} {self.from_}-{self.to} UTC"


class Changes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flags: dict[str, Any] = Field(default_factory=dict)


class SmokeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: int = Field(default=4, ge=1, le=50)
    seconds: int = Field(default=4, ge=1, le=120)
    max_failure_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    max_p95_ms: float = Field(default=1500.0, gt=0)


class ChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    title: str = ""
    owner: str
    approval: Approval = Approval()
    window: Window | str = "default"
    changes: Changes = Changes()
    smoke: SmokeSettings = SmokeSettings()


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_spent: float = Field(default=0.5, gt=0)
    per_slo: dict[str, float] = Field(default_factory=dict)

    def share(self, slo: str) -> float:
        return self.per_slo.get(slo, self.max_spent)


class ChangePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: Window = Window()
    budget_gate: GatePolicy = GatePolicy()


@dataclass(frozen=True)
class Freeze:
    start: datetime
    end: datetime
    reason: str


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist", path=path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML: {str(exc).splitlines()[0]}", path=path) from None


def _model(model: type[Any], data: Any, path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}", path=path) from None


def load_policy(path: Path) -> ChangePolicy:
    policy: ChangePolicy = _model(ChangePolicy, _yaml(path) or {}, path)
    return policy


def load_freezes(path: Path) -> list[Freeze]:
    data = _yaml(path) if path.exists() else {"freezes": []}
    out = []
    for i, f in enumerate((data or {}).get("freezes") or []):
        try:
            start, end = (datetime.fromisoformat(str(f[k]).replace("Z", "+00:00"))
                          for k in ("start", "end"))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{path}: freezes[{i}] needs ISO-8601 start and end",
                              path=path) from None
        out.append(Freeze(start, end, str(f.get("reason", ""))))
    return out


def parse_cr(path: Path) -> tuple[ChangeRequest, str]:
    text = path.read_text()
    m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    if not m:
        raise ConfigError(f"{path}: no YAML front matter (--- ... ---)", path=path)
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: front matter: {str(exc).splitlines()[0]}",
                          path=path) from None
    return _model(ChangeRequest, data, path), m.group(2)


# ----------------------------------------------------------------------------- new / find
def new_cr(folder: Path, slug: str, *, owner: str, title: str = "", at: datetime,
           template: Path | None = None) -> Path:
    if not SLUG.match(slug):
        raise UsageError(f"--slug must be lower-case letters, digits and dashes, got {slug!r}")
    cr_id = f"CR-{at:%Y%m%d}-{slug}"
    path = folder / f"{cr_id}.md"
    if path.exists():
        raise UsageError(f"{path} already exists", path=path)
    tpl = (template or folder / "TEMPLATE.md").read_text()
    text = tpl.replace("CR-YYYYMMDD-slug", cr_id).replace("owner: diego.sre", f"owner: {owner}")
    if title:
        text = text.replace("title: One line saying what changes", f"title: {title}", 1)
        text = text.replace(f"# {cr_id} — title", f"# {cr_id} — {title}", 1)
    atomic_write(path, text)
    return path


def find_cr(folder: Path, name: str) -> Path:
    p = Path(name)
    if p.suffix == ".md" and p.exists():
        return p
    if not CR_NAME.match(name):
        raise UsageError(f"{name!r} is not a CR id (CR-YYYYMMDD-slug) or a CR file")
    path = folder / f"{name}.md"
    if not path.exists():
        raise UsageError(f"no change request {path}", path=path)
    return path


def edit_cr(path: Path, *, flags: dict[str, Any] | None = None, approved_by: str | None = None,
            at: datetime | None = None) -> ChangeRequest:
    """Set a CR's flag changes and/or approval in its front matter (the drill, tests)."""
    cr, body = parse_cr(path)
    if flags is not None:
        cr.changes.flags = flags
    if approved_by is not None:
        cr.approval = Approval(approved_by=approved_by, approved_at=utc_iso(at))
    head = yaml.safe_dump(cr.model_dump(by_alias=True), sort_keys=False)
    atomic_write(path, f"---\n{head}---\n{body}")
    return cr


# ----------------------------------------------------------------------------- preflight
@dataclass
class PreflightOptions:
    repo: Path
    apps: Mapping[str, typer.Typer]
    root: Path | None = None
    prometheus: str | None = None
    samples: Path | None = None
    promtool: bool = True
    smoke: bool = True
    clock: Clock = SYSTEM_CLOCK
    at: datetime | None = None

    def now(self) -> datetime:
        return self.at or self.clock.now()


@dataclass(kw_only=True)
class ChangeJournal(Journal):
    cr: str = ""
    action: str = "preflight"
    at: str = ""
    outcome: str = ""
    flags_before: dict[str, Any] = field(default_factory=dict)
    flags_after: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(s.status.passed for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "cr": self.cr, "action": self.action, "at": self.at,
                "outcome": self.outcome, "flags_before": self.flags_before,
                "flags_after": self.flags_after,
                "checks": {s.name: ("PASS" if s.status.passed else "FAIL")
                           for s in self.steps}}


def _policy_files(repo: Path) -> tuple[ChangePolicy, list[Freeze]]:
    folder = repo / "ops" / "change_requests"
    return load_policy(folder / "policy.yaml"), load_freezes(folder / "freeze.yaml")


def preflight_steps(cr_path: Path, opts: PreflightOptions) -> list[Step]:
    from .budget import budget_from_file, budget_from_prometheus
    from .catalog import load_catalog
    from .smoke import api_base_url, locust_smoke
    from .validate import promtool_checks, validate_all

    def cr_check(ctx: StepContext) -> Outcome:
        cr, _ = parse_cr(cr_path)
        if cr.id != cr_path.stem:
            raise CheckFailed(f"the front matter id {cr.id} is not the file's name {cr_path.stem}")
        if not cr.approval.approved_by.strip():
            raise CheckFailed(f"{cr.id} has no approver (approval.approved_by)")
        for flag, value in cr.changes.flags.items():
            if flag not in flags_mod.names():
                raise CheckFailed(f"{cr.id} changes an unknown flag {flag!r}")
            flags_mod.parse_value(flag, str(value).lower() if isinstance(value, bool)
                                  else str(value))
        return Outcome(f"{cr.id} by {cr.owner}, approved by {cr.approval.approved_by}; "
                       f"{len(cr.changes.flags)} flag change(s)")

    def validate(ctx: StepContext) -> Outcome:
        report = validate_all(opts.repo, opts.apps, root=opts.root, promtool=False)
        if not report.ok:
            raise CheckFailed(f"validate all: {len(report.problems)} problem(s): "
                              + "; ".join(report.problems[:3]))
        return Outcome(f"{len(report.checks)} checks pass")

    def promtool(ctx: StepContext) -> Outcome:
        if not opts.promtool:
            return Outcome("skipped (--no-promtool)", skipped=True)
        failed = [c for c in promtool_checks(opts.repo) if not c.ok]
        if failed:
            raise CheckFailed("; ".join(f"{c.name}: {' '.join(c.problems)[:200]}"
                                        for c in failed))
        return Outcome("rules check and fixtures pass")

    def smoke(ctx: StepContext) -> Outcome:
        if not opts.smoke:
            return Outcome("skipped (--no-smoke)", skipped=True)
        cr, _ = parse_cr(cr_path)
        base = api_base_url(opts.root)
        s = cr.smoke
        res = locust_smoke(base, users=s.users, seconds=s.seconds,
                           max_failure_ratio=s.max_failure_ratio, max_p95_ms=s.max_p95_ms)
        ctx.detail.update(res.to_dict())
        p95 = "-" if res.p95_ms is None else f"{res.p95_ms:.0f} ms"
        return Outcome(f"{res.requests} requests, {res.failures} failed, p95 {p95}")

    def window(ctx: StepContext) -> Outcome:
        cr, _ = parse_cr(cr_path)
        policy, freezes = _policy_files(opts.repo)
        w = policy.window if isinstance(cr.window, str) else cr.window
        if isinstance(cr.window, str) and cr.window != "default":
            raise CheckFailed(f"window is 'default' or a day/from/to table, not {cr.window!r}")
        at = opts.now()
        for f in freezes:
            if f.start <= at < f.end:
                raise CheckFailed(f"{at:%Y-%m-%d %H:%M} UTC is inside the freeze "
                                  f"{f.start:%Y-%m-%d %H:%M}-{f.end:%Y-%m-%d %H:%M} "
                                  f"({f.reason})")
        if not w.covers(at):
            raise CheckFailed(f"{at:%a %Y-%m-%d %H:%M} UTC is outside the window {w.text()}")
        return Outcome(f"{at:%a %H:%M} UTC inside {w.text()}, no freeze")

    def budget(ctx: StepContext) -> Outcome:
        policy, _ = _policy_files(opts.repo)
        if opts.prometheus is None and opts.samples is None:
            raise CheckFailed("no budget data: give --prometheus URL or --samples FILE")
        cat = load_catalog(opts.repo / "ops" / "slo")
        rows = (budget_from_prometheus(cat, opts.prometheus) if opts.prometheus
                else budget_from_file(cat, opts.samples))  # type: ignore[arg-type]
        over = [f"{r.slo} spent {r.consumed:.0%} of its budget (share "
                f"{policy.budget_gate.share(r.slo):.0%})" for r in rows
                if r.consumed is not None and r.consumed > policy.budget_gate.share(r.slo)]
        ctx.detail["budgets"] = {r.slo: r.consumed for r in rows}
        if over:
            raise CheckFailed("error-budget gate: " + "; ".join(over))
        measured = sum(r.consumed is not None for r in rows)
        return Outcome(f"{measured} SLOs within their share")

    return [Step("cr", cr_check, "change request"), Step("validate", validate, "validate all"),
            Step("promtool", promtool, "promtool"), Step("smoke", smoke, "Locust smoke"),
            Step("window", window, "window and freeze"), Step("budget", budget,
                                                               "error-budget gate")]


def preflight(cr_path: Path, opts: PreflightOptions) -> ChangeJournal:
    """Every check, each PASS/FAIL with its reason; raises CheckFailed (with this journal)
    when one failed."""
    journal = ChangeJournal(cr=cr_path.stem, at=utc_iso(opts.now()))
    steps = preflight_steps(cr_path, opts)
    journal.plan(steps)
    for step in steps:
        try:
            run_steps([step], journal, clock=opts.clock)
        except VVTVError:
            continue  # recorded as FAILED in the journal; the other checks still run
    failed = [s for s in journal.steps if s.status is StepStatus.FAILED]
    journal.outcome = "refused" if failed else "ready"
    if failed:
        raise CheckFailed(f"preflight of {cr_path.stem} failed: "
                          + "; ".join(f"{s.name}: {s.summary}" for s in failed)).attach(journal)
    return journal


# ----------------------------------------------------------------------------- apply
def apply_change(cr_path: Path, opts: PreflightOptions, *, settle_s: float = 1.5,
                 post_checks: Callable[[Path | None], list[Any]] | None = None
                 ) -> ChangeJournal:
    """Preflight, apply the CR's flags, post-change smoke, rollback on failure."""
    from .smoke import post_change_checks

    pre = preflight(cr_path, opts)  # raises with its journal when refused
    cr, _ = parse_cr(cr_path)
    path = flags_path(opts.root)
    journal = ChangeJournal(cr=cr.id, action="apply", at=utc_iso(opts.now()))
    journal.steps = list(pre.steps)
    before = flags_mod.list_flags(path)
    journal.flags_before = {k: before[k] for k in cr.changes.flags}
    check = post_checks or (lambda root: post_change_checks(root))

    def apply(ctx: StepContext) -> Outcome:
        for flag, value in cr.changes.flags.items():
            flags_mod.set_flag(path, flag, value, reason=f"{cr.id}: {cr.title}".strip(": "))
        journal.flags_after = {k: flags_mod.list_flags(path)[k] for k in cr.changes.flags}
        return Outcome(f"{len(cr.changes.flags)} flag(s) set: {journal.flags_after}")

    def settle(ctx: StepContext) -> Outcome:
        opts.clock.sleep(settle_s)  # running services re-read the flags within a second
        return Outcome(f"waited {settle_s:g} s for the services to apply the flags")

    def smoke(ctx: StepContext) -> Outcome:
        results = check(opts.root)
        ctx.detail["checks"] = [r.to_dict() for r in results]
        bad = [r for r in results if not r.ok]
        if bad:
            raise CheckFailed("post-change smoke failed: "
                              + "; ".join(f"{r.name}: {r.detail}" for r in bad))
        return Outcome("; ".join(f"{r.name}: {r.detail}" for r in results) or "nothing to check")

    def rollback(ctx: StepContext) -> Outcome:
        for flag, value in journal.flags_before.items():
            flags_mod.set_flag(path, flag, value, reason=f"rollback {cr.id}: smoke failed")
        return Outcome(f"restored {journal.flags_before}")

    steps = [Step("apply", apply, "apply the flags"), Step("settle", settle, "settle"),
             Step("post-smoke", smoke, "post-change smoke")]
    try:
        run_steps(steps, journal, clock=opts.clock)
    except VVTVError as exc:  # a smoke that cannot even run is a failed smoke too
        smoked = journal.step("post-smoke")
        if smoked is None or not smoked.failed:
            raise
        run_steps([Step("rollback", rollback, "automatic rollback")], journal, clock=opts.clock)
        journal.outcome = "rolled back"
        raise CheckFailed(f"{cr.id} rolled back: {exc.message}").attach(journal) from None
    journal.outcome = "applied"
    return journal


def now_in_window_example(policy: ChangePolicy, after: datetime) -> datetime:
    """The next start of the default window after ``after`` (the drill's ``--at``)."""
    w = policy.window
    h, m = (int(x) for x in w.from_.split(":"))
    day = DAYS.index(w.day)
    t = after.replace(hour=h, minute=m, second=0, microsecond=0)
    while t.weekday() != day or t <= after:
        t += timedelta(days=1)
    return t
