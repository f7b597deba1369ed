"""Every drill notebook is thin and takes the parameters the harness passes."""

from __future__ import annotations

import ast

import nbformat
import pytest

from vvtvlib.drills.harness import DRILL_ORDER, NOTEBOOKS, available_drills

PRIMITIVES = (str, int, float, bool, type(None))


def _parameters(name: str) -> dict[str, object]:
    nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    first = code_cells[0]
    assert "parameters" in first.metadata.get("tags", []), f"{name}: first code cell is not tagged"
    values: dict[str, object] = {}
    for node in ast.parse(first.source).body:
        assert isinstance(node, ast.Assign), f"{name}: parameters cell holds only assignments"
        values[node.targets[0].id] = ast.literal_eval(node.value)  # type: ignore[attr-defined]
    return values


def test_the_drills_of_make_drill_exist() -> None:
    assert [d for d in DRILL_ORDER if d in available_drills()] == list(DRILL_ORDER)


@pytest.mark.parametrize("name", available_drills())
def test_parameters_are_primitives_and_include_root_and_profile(name: str) -> None:
    params = _parameters(name)
    assert {"root", "profile"} <= set(params), f"{name}: needs root and profile parameters"
    assert all(isinstance(v, PRIMITIVES) for v in params.values()), params


@pytest.mark.parametrize("name", available_drills())
def test_notebook_ends_with_the_criteria_verdict(name: str) -> None:
    nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "Criteria(" in source and ".finish()" in source
    assert all(len(c.source.splitlines()) <= 30 for c in nb.cells if c.cell_type == "code"), \
        "drill cells stay thin: logic belongs in vvtvlib"
