"""The lab planner's curator and autopilot, driven by the feature flags.

After each planner cycle:

* the **curator** proposes a new score for the plan just made, with a confidence. With
  ``curator.apply_enabled`` and a confidence of at least ``curator.min_confidence_apply`` it
  applies it (``decision = "apply"``); otherwise it only advises. Each decision is one line
  of ``logs/curator_vigilante.jsonl`` and one ``curator_decisions_total{decision}``.
* the **autopilot** (``autopilot.enabled``) decides a score nudge; a ``canary_pct`` share of
  its decisions is applied as a canary, checked, and rolled back when the check fails
  (``logs/autopilot.jsonl``, ``autopilot_rollbacks_total``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.features import Features
from vvtvlib.core.layout import StationLayout

from .db import transaction
from .metrics import StationMetrics


def _append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")


def _set_score(layout: StationLayout, plan_id: str, score: float) -> None:
    with transaction(layout.db("plans")) as c:
        c.execute("UPDATE plans SET score=?, updated_utc=? WHERE plan_id=?",
                  (score, utc_iso(), plan_id))


def _score(layout: StationLayout, plan_id: str) -> float | None:
    with transaction(layout.db("plans")) as c:
        row = c.execute("SELECT score FROM plans WHERE plan_id=?", (plan_id,)).fetchone()
    return None if row is None else float(row[0])


def curate(layout: StationLayout, plan_id: str, flags: Features, rng: random.Random,
           metrics: StationMetrics | None = None) -> dict[str, Any]:
    old = _score(layout, plan_id)
    if old is None:
        return {}
    proposed = round(min(0.99, max(0.0, old + rng.uniform(-0.2, 0.2))), 3)
    confidence = round(rng.random(), 3)
    f = flags.curator
    decision = "apply" if f.apply_enabled and confidence >= f.min_confidence_apply else "advise"
    if decision == "apply":
        _set_score(layout, plan_id, proposed)
    record = {"ts": utc_iso(), "service": "planner", "component": "curator",
              "plan_id": plan_id, "old_score": old, "proposed_score": proposed,
              "confidence": confidence, "decision": decision,
              "apply_enabled": f.apply_enabled, "min_confidence_apply": f.min_confidence_apply}
    _append(layout.logs / "curator_vigilante.jsonl", record)
    if metrics is not None:
        metrics.curator.labels(decision).inc()
    return record


def autopilot(layout: StationLayout, plan_id: str, flags: Features, rng: random.Random,
              metrics: StationMetrics | None = None) -> dict[str, Any]:
    f = flags.autopilot
    if not f.enabled:
        return {}
    old = _score(layout, plan_id)
    if old is None:
        return {}
    new = round(min(0.99, max(0.0, old + rng.uniform(-0.3, 0.3))), 3)
    canary = rng.random() < f.canary_pct
    outcome = "held"  # decided, not in the canary share: left for a later rollout
    if canary:
        _set_score(layout, plan_id, new)
        # the canary check: a plan's score must stay in the band the selection uses
        if 0.3 <= new <= 0.95:
            outcome = "applied"
        else:
            _set_score(layout, plan_id, old)
            outcome = "rolled_back"
            if metrics is not None:
                metrics.autopilot_rollbacks.inc()
    record = {"ts": utc_iso(), "service": "planner", "component": "autopilot",
              "plan_id": plan_id, "old_score": old, "new_score": new, "canary": canary,
              "canary_pct": f.canary_pct, "outcome": outcome}
    _append(layout.logs / "autopilot.jsonl", record)
    return record
