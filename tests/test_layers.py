"""The package layers hold, and every face that names a module by its path (drill notebooks,
chaos experiments) names one that exists, so moving a module cannot silently break them."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports")
    found = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert found, "lint-imports (import-linter) is not installed"
    return found


def test_the_layer_contract_is_kept() -> None:
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """A copy of the package with one vault module importing the ritual must fail."""
    shutil.copytree(ROOT / "vvtvlib", tmp_path / "vvtvlib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "vvtvlib" / "vault" / "upward.py").write_text(
        "from vvtvlib.ritual import run_ritual\n")
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300,
                          env={"PYTHONPATH": str(tmp_path),
                               "PATH": str(Path(sys.executable).parent)})
    assert proc.returncode != 0
    assert "vvtvlib.vault is not allowed to import vvtvlib.ritual" in proc.stdout


def _notebook_imports() -> Iterator[tuple[str, ast.ImportFrom | ast.Import]]:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                if any(n.split(".")[0] == "vvtvlib" for n in names):
                    yield path.name, node


def test_every_vvtvlib_name_a_notebook_imports_exists() -> None:
    seen = 0
    for name, node in _notebook_imports():
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
            continue
        module = importlib.import_module(str(node.module))
        for alias in node.names:
            seen += 1
            assert hasattr(module, alias.name) or importlib.util.find_spec(
                f"{node.module}.{alias.name}") is not None, \
                f"{name}: {node.module} has no {alias.name}"
    assert seen > 10  # the four drill notebooks import from the library


def _providers(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        if doc.get("type") == "python" and "module" in doc:
            yield doc
        for value in doc.values():
            yield from _providers(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _providers(value)


@pytest.mark.parametrize("path", sorted((ROOT / "chaos").glob("*.json")), ids=lambda p: p.name)
def test_every_chaos_provider_resolves(path: Path) -> None:
    providers = list(_providers(json.loads(path.read_text())))
    assert providers, f"{path.name} names no python provider"
    for provider in providers:
        module = importlib.import_module(provider["module"])
        assert callable(getattr(module, provider["func"], None)), \
            f"{path.name}: {provider['module']}.{provider['func']} does not exist"
