"""Crash recovery: ``up`` after kill -9 of the supervisor (alone, or with its children)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import psutil
import pytest

from tests.plugins.station import LabStation
from vvtvlib.station.runtime import read_runtime

from .helpers import eventually, playout_lines

pytestmark = pytest.mark.station


def test_up_after_kill_9_of_the_supervisor_kills_orphans_and_resumes(
        station_factory: Callable[..., LabStation]) -> None:
    lab = station_factory()
    eventually(lambda: len(playout_lines(lab.layout)) >= 2)
    info = read_runtime(lab.layout)
    assert info is not None
    ffmpeg = [p for p in psutil.Process(info.pid).children() if "ffmpeg" in p.name()]
    assert ffmpeg
    os.kill(info.pid, signal.SIGKILL)
    eventually(lambda: not lab.status().up, timeout_s=5)
    assert ffmpeg[0].is_running()  # the orphan encoder is still writing HLS
    last = playout_lines(lab.layout)[-1]
    st = lab.up()
    assert st.up and st.encoder_running and st.pid != info.pid
    assert not ffmpeg[0].is_running() or ffmpeg[0].status() == psutil.STATUS_ZOMBIE
    new = [e for e in playout_lines(lab.layout) if e["run_id"] == st.playing["run_id"]]
    # never back to an earlier point; the very point of the last line when the kill came
    # before any later progress was recorded (seen on a loaded machine)
    assert (new[0]["queue_position"], new[0]["offset_s"]) >= (last["queue_position"],
                                                              last["offset_s"])


def test_up_after_kill_9_of_the_whole_process_group(
        station_factory: Callable[..., LabStation]) -> None:
    lab = station_factory()
    info = read_runtime(lab.layout)
    assert info is not None
    os.killpg(os.getpgid(info.pid), signal.SIGKILL)
    eventually(lambda: not psutil.pid_exists(info.pid)
               or psutil.Process(info.pid).status() == psutil.STATUS_ZOMBIE, timeout_s=5)
    st = lab.up()
    assert st.up and st.encoder_running
