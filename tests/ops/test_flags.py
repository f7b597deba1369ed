"""Feature flags: atomic writes, audit, validation, and a watcher that keeps the last good
file (the live station's hot reload is in test_oncall_live.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vvtvlib.core.errors import ConfigError, UsageError
from vvtvlib.core.evidence import verify_chain
from vvtvlib.core.features import DEFAULTS, FlagWatcher, load_features
from vvtvlib.ops import flags as F
from vvtvlib.ops.generate import REPO


def test_repository_file_holds_the_seed_flags_and_the_defaults() -> None:
    flags = load_features(REPO / "ops" / "flags" / "features.toml")
    assert flags == DEFAULTS
    flat = flags.flat()
    assert flat["curator.apply_enabled"] is True
    assert flat["curator.min_confidence_apply"] == 0.62
    assert flat["autopilot.enabled"] is False
    assert flat["autopilot.canary_pct"] == 0.2
    for name in ("api.burst_shedding", "pool.heavy_deadline_ms", "pool.hedge_after_ms"):
        assert name in flat


def test_set_writes_and_audits_who_when_old_new_reason(tmp_path: Path) -> None:
    path = tmp_path / "features.toml"
    change = F.set_flag(path, "curator.apply_enabled", F.parse_value("curator.apply_enabled",
                                                                     "off"),
                        reason="freeze curator", who="ana")
    assert (change.old, change.new) == (True, False)
    assert F.get_flag(path, "curator.apply_enabled") is False
    F.set_flag(path, "autopilot.canary_pct", 0.5, reason="wider canary", who="ana")
    lines = [json.loads(x) for x in F.audit_path(path).read_text().splitlines()]
    assert [(x["flag"], x["old"], x["new"], x["reason"], x["who"]) for x in lines] == [
        ("curator.apply_enabled", True, False, "freeze curator", "ana"),
        ("autopilot.canary_pct", 0.2, 0.5, "wider canary", "ana")]
    assert all(x["when"] for x in lines)
    assert verify_chain(F.audit_path(path)).ok


def test_invalid_values_are_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "features.toml"
    F.set_flag(path, "autopilot.enabled", True)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="min_confidence_apply"):
        F.set_flag(path, "curator.min_confidence_apply", 3.0)
    with pytest.raises(UsageError, match="unknown flag"):
        F.set_flag(path, "curator.nope", 1)
    with pytest.raises(UsageError, match="on or off"):
        F.parse_value("autopilot.enabled", "maybe")
    assert path.read_bytes() == before


def test_watcher_keeps_the_last_good_flags_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "features.toml"
    F.set_flag(path, "curator.apply_enabled", False)
    w = FlagWatcher(path)
    assert w.current().curator.apply_enabled is False and w.error is None
    path.write_text("[curator]\napply_enabled = 'banana'\n")
    assert w.current().curator.apply_enabled is False
    assert w.error is not None and "apply_enabled" in w.error
    F.write_defaults(path)
    assert w.current().curator.apply_enabled is True and w.error is None
