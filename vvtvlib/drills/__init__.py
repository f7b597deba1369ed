"""Drills: parameterized notebooks run by papermill into rendered reports."""

from .criteria import Criteria
from .harness import DrillResult, available_drills, run_drill, write_index

__all__ = ["Criteria", "DrillResult", "available_drills", "run_drill", "write_index"]
