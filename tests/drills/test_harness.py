from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from vvtvlib.core.errors import UsageError
from vvtvlib.drills import Criteria, run_drill


def _notebook(folder: Path, name: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("threshold = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(folder / f"{name}.ipynb"))


BODY = """
from vvtvlib.drills import Criteria
c = Criteria("tiny")
c.check("threshold above zero", threshold > 0, f"threshold={threshold}")
c.metric("threshold", threshold)
c.finish()
"""


def test_drill_pass_and_fail_are_rendered_and_indexed(tmp_path: Path) -> None:
    nbs, out = tmp_path / "nbs", tmp_path / "reports"
    nbs.mkdir()
    _notebook(nbs, "tiny", BODY)
    good = run_drill("tiny", {"threshold": 3}, out=out, notebooks=nbs)
    bad = run_drill("tiny", {"threshold": -1}, out=out, notebooks=nbs)
    assert good.status == "PASS" and bad.status == "FAIL"
    assert good.criteria == [{"name": "threshold above zero", "passed": True,
                              "detail": "threshold=3"}]
    assert "CheckFailed" in (bad.error or "")
    htmls = [p.read_text() for p in out.glob("*/tiny.html")]
    assert len(htmls) == 2 and any("threshold=3" in h for h in htmls)
    index = (out / "index.html").read_text()
    assert index.count("tiny") >= 2 and "PASS" in index and "FAIL" in index
    stored = [json.loads(p.read_text()) for p in out.glob("*/tiny.result.json")]
    assert sorted(s["status"] for s in stored) == ["FAIL", "PASS"]
    assert good.parameters == {"threshold": 3}


def test_unknown_drill_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no drill named"):
        run_drill("nope", out=tmp_path, notebooks=tmp_path)


def test_criteria_without_checks_fail() -> None:
    assert not Criteria("x").passed


def test_the_kernel_talks_over_private_unix_sockets_and_stops(tmp_path: Path) -> None:
    """No plain-TCP kernel on loopback (ipykernel warns of it): unix sockets in a private
    folder, and no kernel left behind once the drill is over."""
    import psutil

    nbs, out = tmp_path / "nbs", tmp_path / "reports"
    nbs.mkdir()
    _notebook(nbs, "where", BODY + """
import json, os, sys
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
print(json.dumps({"transport": app.transport, "ip": app.ip, "pid": os.getpid()}))
""")
    r = run_drill("where", {"threshold": 3}, out=out, notebooks=nbs)
    assert r.status == "PASS", r.error
    nb = nbformat.read(str(next(out.glob("*/where.ipynb"))), as_version=4)
    seen = json.loads(next(o["text"] for o in nb.cells[-1].outputs if o.get("name") == "stdout"))
    assert seen["transport"] == "ipc"
    assert not Path(seen["ip"]).parent.exists()  # the sockets' folder is gone
    assert not psutil.pid_exists(seen["pid"]) or \
        psutil.Process(seen["pid"]).status() == psutil.STATUS_ZOMBIE
