"""Acceptance criteria inside a drill notebook: a PASS/FAIL table and a machine-readable result.

A notebook builds a ``Criteria``, records each check, and ends with ``finish()``, which
shows the table, writes the result file the harness asked for (``$VVTV_DRILL_RESULT``) and
raises when a criterion failed, so papermill marks the drill FAIL.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import CheckFailed


@dataclass
class Criterion:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Criteria:
    drill: str = ""
    items: list[Criterion] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, passed: bool, detail: Any = "") -> bool:
        self.items.append(Criterion(name, bool(passed), str(detail)))
        return bool(passed)

    def metric(self, name: str, value: Any) -> None:
        self.metrics[name] = value

    @property
    def passed(self) -> bool:
        return bool(self.items) and all(c.passed for c in self.items)

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"criterion": c.name, "result": "PASS" if c.passed else "FAIL",
                              "detail": c.detail} for c in self.items])

    def to_dict(self) -> dict[str, Any]:
        return {"drill": self.drill, "passed": self.passed,
                "criteria": [asdict(c) for c in self.items], "metrics": self.metrics}

    def finish(self) -> Any:
        """Write the result for the harness; raise if anything failed. Returns the table."""
        target = os.environ.get("VVTV_DRILL_RESULT")
        if target:
            Path(target).write_text(json.dumps(self.to_dict(), indent=2, default=str))
        table = self.table()
        try:
            from IPython.display import display

            display(table.style.map(
                lambda v: "color: green; font-weight: bold" if v == "PASS"
                else ("color: red; font-weight: bold" if v == "FAIL" else ""),
                subset=["result"]))
        except Exception:  # outside IPython: the returned table is enough
            pass
        failed = [c.name for c in self.items if not c.passed]
        if failed or not self.items:
            raise CheckFailed("drill criteria failed: " + (", ".join(failed) or "none recorded"))
        return None
