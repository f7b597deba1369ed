from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import pytest

from vvtvlib.core.errors import IntegrityError
from vvtvlib.core.evidence import GENESIS, EvidenceLog, line_hash, verify_chain


def _write(path: Path, n: int) -> EvidenceLog:
    log = EvidenceLog(path)
    for i in range(n):
        log.append({"step": f"s{i}", "value": i})
    return log


def test_chain_links_each_line_to_the_previous_bytes(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    _write(path, 3)
    lines = path.read_bytes().splitlines()
    assert json.loads(lines[0])["prev_sha256"] == GENESIS
    assert json.loads(lines[1])["prev_sha256"] == line_hash(lines[0])
    assert json.loads(lines[2])["prev_sha256"] == line_hash(lines[1])
    assert [json.loads(x)["seq"] for x in lines] == [1, 2, 3]
    report = verify_chain(path)
    assert report.ok and report.lines == 3


def test_log_and_head_are_private(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    _write(path, 1)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "e.jsonl.head").stat().st_mode & 0o777 == 0o600


def test_edited_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    _write(path, 5)
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"value":2', '"value":7')
    path.write_text("\n".join(lines) + "\n")
    report = verify_chain(path)
    assert not report.ok
    # Line 3 itself is still well-formed; the break shows at the line that chains from it.
    assert report.first_bad_line == 3


def test_removed_middle_line_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    _write(path, 5)
    lines = path.read_text().splitlines()
    del lines[1]
    path.write_text("\n".join(lines) + "\n")
    report = verify_chain(path)
    assert not report.ok and report.first_bad_line == 2


def test_truncation_at_the_end_is_detected_by_the_head_anchor(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    _write(path, 5)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3]) + "\n")
    report = verify_chain(path)
    assert not report.ok
    assert "truncated" in (report.reason or "")


def test_torn_last_line_is_refused_for_appends(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = _write(path, 2)
    with path.open("ab") as fh:
        fh.write(b'{"seq":3,')
    assert not verify_chain(path).ok
    with pytest.raises(IntegrityError):
        log.append({"step": "after-tear"})


def _hammer(path: str, worker: int, count: int) -> None:
    log = EvidenceLog(path)
    for i in range(count):
        log.append({"worker": worker, "i": i, "pad": "x" * 200})


def test_concurrent_writers_in_several_processes_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(path), w, 60)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    report = verify_chain(path)
    assert report.ok, report
    assert report.lines == 240
    seen = {(e["worker"], e["i"]) for e in EvidenceLog(path).entries()}
    assert len(seen) == 240


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    _write(path, 3)
    ok = subprocess.run([sys.executable, "-m", "vvtvlib.cli", "evidence", "verify", str(path)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    path.write_text(path.read_text().replace('"s1"', '"sX"'))
    bad = subprocess.run([sys.executable, "-m", "vvtvlib.cli", "evidence", "verify", str(path),
                          "--json"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["first_bad_line"] == 2
    assert "line 2" in bad.stderr
