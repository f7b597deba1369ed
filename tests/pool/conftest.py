"""Emulator processes on free 127.0.0.1 ports, always stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from vvtvlib.pool.emulator import EmulatorProcess, start_emulators
from vvtvlib.pool.emulator.process import stop_all


@pytest.fixture
def emulators() -> Iterator[Callable[..., list[EmulatorProcess]]]:
    """A factory: ``emulators([("m1", "5:10"), ...], error_rate=0)`` -> running processes."""
    started: list[EmulatorProcess] = []

    def make(specs: list[tuple[str, str]], **kwargs: object) -> list[EmulatorProcess]:
        ems = start_emulators(specs, **kwargs)
        started.extend(ems)
        return ems

    yield make
    stop_all(started)
    assert not any(em.running for em in started)


@pytest.fixture(scope="module")
def trio() -> Iterator[list[EmulatorProcess]]:
    """Three emulated models (fast, medium, slow) shared by a module; faults cleared by tests."""
    ems = start_emulators([("fast", "4:8"), ("medium", "15:25"), ("slow", "30:45")])
    yield ems
    stop_all(ems)
