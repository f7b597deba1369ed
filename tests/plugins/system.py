"""System requirements for tests.

``need_tool("minisign")`` skips a test when the tool is missing on a developer's machine,
but fails it when ``VVTV_REQUIRE_SYSTEM=1`` (as CI sets it): in CI nothing may skip for a
missing system package.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest

REQUIRE_SYSTEM = os.environ.get("VVTV_REQUIRE_SYSTEM") == "1"


def need(condition: bool, what: str) -> None:
    if condition:
        return
    if REQUIRE_SYSTEM:
        pytest.fail(f"{what} is required (VVTV_REQUIRE_SYSTEM=1) but missing")
    pytest.skip(f"{what} is not installed")


def need_tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}")
                                  else None)
    need(path is not None, f"system tool {name!r}")
    assert path is not None
    return path


@pytest.fixture
def require_tool() -> Callable[[str], str]:
    return need_tool
