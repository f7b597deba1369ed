"""A TOML config that is not UTF-8 (or is a folder) is one sentence and exit 2, never a
traceback, whichever loader reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vvtvlib.cli import sleepguardd
from vvtvlib.core.config import Section, load_config, read_toml
from vvtvlib.core.errors import ConfigError
from vvtvlib.core.layout import StationLayout
from vvtvlib.station.encoder import load_encoder_settings


class Cfg(Section):
    interval_s: float = 900


def test_non_utf8_byte_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    f = tmp_path / "sleepguard.toml"
    f.write_bytes(b'# caf\xe9\ninterval_s = 5\n')
    with pytest.raises(ConfigError) as err:
        load_config(Cfg, f)
    assert err.value.exit_code == 2
    assert str(f) in err.value.message and "not UTF-8" in err.value.message


def test_a_folder_where_a_config_should_be_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "ritual.toml").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        read_toml(tmp_path / "ritual.toml")


def test_encoder_settings_use_the_same_loader(tmp_path: Path) -> None:
    layout = StationLayout.at(tmp_path)
    layout.configs.mkdir(parents=True)
    (layout.configs / "encoder.toml").write_bytes(b'[encoder]\npreset = "r\xe1pido"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_encoder_settings(layout)


def test_command_line_exits_2_with_one_sentence(tmp_path: Path) -> None:
    layout = StationLayout.at(tmp_path / "vvtv")
    layout.configs.mkdir(parents=True)
    cfg = layout.configs / "sleepguard.toml"
    cfg.write_bytes(b"interval_s = 5 # \xff\xfe\n")
    res = CliRunner().invoke(sleepguardd.app, ["--root", str(layout.root), "--once"])
    assert res.exit_code == 2, res.output
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "not UTF-8" in lines[0] and "Traceback" not in res.output
