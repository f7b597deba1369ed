from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from vvtvlib.core.config import Section, apply_overrides, load_config
from vvtvlib.core.errors import (
    CheckFailed,
    ConfigError,
    DependencyMissing,
    IntegrityError,
    StationNotRunning,
    TimedOut,
    UsageError,
    VVTVError,
)


class Pre(Section):
    queue_min_buffer_s: int = 3600
    disk_free_min_pct: float = 15


class Cfg(Section):
    prechecks: Pre = Pre()


@pytest.mark.parametrize("exc, code", [
    (CheckFailed, 1), (IntegrityError, 1), (UsageError, 2), (ConfigError, 2),
    (DependencyMissing, 3), (StationNotRunning, 3), (TimedOut, 4)])
def test_every_error_maps_to_its_exit_code(exc: type[VVTVError], code: int) -> None:
    err = exc("x", path="/a", expected=1, actual=2, step="freeze")
    assert err.exit_code == code
    assert err.to_dict()["context"] == {"step": "freeze"}
    assert err.to_dict()["expected"] == 1


def test_defaults_when_file_is_missing(tmp_path: Path) -> None:
    assert load_config(Cfg, tmp_path / "none.toml").prechecks.queue_min_buffer_s == 3600


def test_bad_value_names_key_and_file(tmp_path: Path) -> None:
    f = tmp_path / "ritual.toml"
    f.write_text("[prechecks]\nqueue_min_buffer_s = 'lots'\n")
    with pytest.raises(ConfigError) as e:
        load_config(Cfg, f)
    assert "prechecks.queue_min_buffer_s" in str(e.value) and str(f) in str(e.value)


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "ritual.toml"
    f.write_text("[prechecks]\nqueue_min_bufer_s = 1\n")
    with pytest.raises(ConfigError, match="queue_min_bufer_s"):
        load_config(Cfg, f)


def test_invalid_toml_is_one_sentence(tmp_path: Path) -> None:
    f = tmp_path / "ritual.toml"
    f.write_text("[prechecks\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(Cfg, f)


def test_overrides_are_typed_and_validated(tmp_path: Path) -> None:
    f = tmp_path / "ritual.toml"
    f.write_text(tomli_w.dumps({"prechecks": {"queue_min_buffer_s": 10}}))
    cfg = load_config(Cfg, f, ["prechecks.disk_free_min_pct=99.5"])
    assert cfg.prechecks.disk_free_min_pct == 99.5 and cfg.prechecks.queue_min_buffer_s == 10
    with pytest.raises(ConfigError):
        load_config(Cfg, f, ["prechecks.queue_min_buffer_s=abc"])
    with pytest.raises(ConfigError):
        apply_overrides({}, ["novalue"])
