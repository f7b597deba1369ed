"""ritual.toml: seed defaults, overrides validated like the file, the station's file accepted."""

from __future__ import annotations

import pytest
import tomli_w

from vvtvlib.core.errors import ConfigError
from vvtvlib.core.layout import StationLayout
from vvtvlib.ritual.config import RitualConfig, default_ritual_toml, load_ritual_config


def test_defaults_are_the_seed_thresholds(tmp_path):
    cfg = load_ritual_config(StationLayout.at(tmp_path))
    assert cfg.prechecks.queue_min_buffer_s == 3600
    assert cfg.prechecks.encoder_stable_s == 60
    assert cfg.prechecks.disk_free_min_pct == 15
    assert cfg.prechecks.cpu_temp_max_c == 80
    assert cfg.freeze.wait_empty_timeout_s == 600


def test_file_then_overrides(tmp_path):
    layout = StationLayout.at(tmp_path)
    layout.configs.mkdir(parents=True)
    (layout.configs / "ritual.toml").write_text(tomli_w.dumps(
        {"prechecks": {"encoder_stable_s": 30}, "freeze": {"wait_empty_timeout_s": 20}}))
    cfg = load_ritual_config(layout, ["prechecks.encoder_stable_s=5", "stop.closing_bell=true"])
    assert cfg.prechecks.encoder_stable_s == 5
    assert cfg.freeze.wait_empty_timeout_s == 20
    assert cfg.stop.closing_bell is True


@pytest.mark.parametrize("override", ["prechecks.disk_free_min_pct=150",
                                      "prechecks.no_such_key=1",
                                      "prechecks.encoder_stable_s=soon"])
def test_bad_overrides_are_config_errors(tmp_path, override):
    with pytest.raises(ConfigError) as err:
        load_ritual_config(StationLayout.at(tmp_path), [override])
    assert err.value.exit_code == 2
    assert "prechecks" in err.value.message


def test_default_file_round_trips(tmp_path):
    layout = StationLayout.at(tmp_path)
    layout.configs.mkdir(parents=True)
    (layout.configs / "ritual.toml").write_text(default_ritual_toml())
    assert load_ritual_config(layout) == RitualConfig()


def test_snapshot_levels_default_to_the_vault_policy_and_a_station_may_set_others(tmp_path):
    from vvtvlib.ritual.archives import DATA_ARCHIVE, DB_ARCHIVE, SYSTEM_ARCHIVE
    from vvtvlib.vault.snapshot import SnapshotPolicy

    policy = SnapshotPolicy()
    snap = RitualConfig().snapshot
    assert (snap.db_level, snap.db_long) == (policy.for_archive(DB_ARCHIVE).level,
                                             policy.for_archive(DB_ARCHIVE).long) == (1, False)
    assert snap.system_level == policy.for_archive(SYSTEM_ARCHIVE).level
    assert snap.data_level == policy.for_archive(DATA_ARCHIVE).level
    layout = StationLayout.at(tmp_path)
    layout.configs.mkdir(parents=True)
    (layout.configs / "ritual.toml").write_text(tomli_w.dumps(
        {"snapshot": {"db_level": 3, "db_long": True}}))
    cfg = load_ritual_config(layout)
    assert (cfg.snapshot.db_level, cfg.snapshot.db_long) == (3, True)
    assert "db_level = 1" in default_ritual_toml()
