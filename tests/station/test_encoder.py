"""The realizer encodes with system/configs/encoder.toml, which a revival may adapt."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable

import tomli_w

from tests.plugins.station import LabStation
from vvtvlib.station.config import WorkersSection
from vvtvlib.station.encoder import (
    DEFAULT_ENCODER,
    EncoderSettings,
    encoder_args,
    load_encoder_settings,
)
from vvtvlib.station.state import ControlStore
from vvtvlib.station.workers import realize_job


def test_encoder_args_follow_the_settings() -> None:
    assert encoder_args(DEFAULT_ENCODER) == ["-c:v", "libx264", "-preset", "ultrafast",
                                             "-tune", "zerolatency", "-pix_fmt", "yuv420p"]
    assert encoder_args(EncoderSettings(codec="mpeg4", preset=None, tune=None)) == [
        "-c:v", "mpeg4", "-pix_fmt", "yuv420p"]


def test_realizer_uses_the_adapted_encoder_settings(
        station_factory: Callable[..., LabStation]) -> None:
    lab = station_factory(up=False)
    layout = lab.layout
    (layout.configs / "encoder.toml").write_text(tomli_w.dumps(
        {"encoder": {"codec": "libx264", "preset": "veryfast", "profile": "main"}}))
    settings = load_encoder_settings(layout)
    assert (settings.preset, settings.profile, settings.tune) == ("veryfast", "main",
                                                                  "zerolatency")
    with sqlite3.connect(layout.db("plans")) as c:
        planned = c.execute("SELECT plan_id FROM plans ORDER BY created_utc LIMIT 1").fetchone()[0]
        c.execute("UPDATE plans SET status='planned' WHERE plan_id=?", (planned,))
        c.execute("UPDATE plans SET status='ready' WHERE plan_id<>? AND status='planned'",
                  (planned,))
    realize_job(layout, WorkersSection(realizer_job_s=0.5), random.Random(1),
                ControlStore(layout))
    with sqlite3.connect(layout.db("plans")) as c:
        preset = c.execute("SELECT preset FROM renditions WHERE plan_id=?", (planned,)).fetchone()
    assert preset is not None and preset[0] == "160x90-libx264-veryfast-main"
