"""Shared fixtures: a lab API (pool-api in a thread over emulators) with a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import vvtvlib.api
from vvtvlib.api.lab import ApiLab
from vvtvlib.core.clock import FakeClock
from vvtvlib.pool.emulator import EmulatorProcess, start_emulators, stop_all

HERE = Path(__file__).resolve().parent
CURL_CLIENT = Path(vvtvlib.api.__file__).resolve().parent / "templates" / "hmac_client.sh"


@pytest.fixture(scope="session")
def duo() -> Iterator[list[EmulatorProcess]]:
    ems = start_emulators([("m1", "0"), ("m2", "0")])
    yield ems
    stop_all(ems)


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(start=datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, duo: list[EmulatorProcess],
        clock: FakeClock) -> Iterator[ApiLab]:
    with ApiLab(tmp_path_factory.mktemp("api"), clock=clock, emulators=duo) as lab:
        yield lab
