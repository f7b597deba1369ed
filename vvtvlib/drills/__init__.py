"""Drills: parameterized notebooks run by papermill into rendered reports, and what the
notebooks, chaos experiments and acceptance tests call to set a drill up.

    harness     ``run_drill``, ``available_drills``, ``write_index`` (papermill + nbconvert)
    criteria    the PASS/FAIL table a drill notebook ends with
    lab         the lab folder ``make drill`` works in
    rehearsal   a real signed source snapshot of a small lab station (M3 drills, chaos)
    hibernation the M2 guardian drill: a locked lab station and K simulated guardian cycles
    tamper      deliberate tampering with a locked vault, and its revert
    render      revival tables and figures for drill reports
"""

from .criteria import Criteria
from .harness import DrillResult, available_drills, run_drill, write_index

__all__ = ["Criteria", "DrillResult", "available_drills", "run_drill", "write_index"]
