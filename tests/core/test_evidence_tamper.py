"""Evidence logs that were truncated, deleted, extended behind the writer's back or lost
their head anchor are refused, never re-anchored; the witness check (``--since``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vvtvlib.cli import vvtvctl
from vvtvlib.core.errors import IntegrityError
from vvtvlib.core.evidence import (
    EvidenceLog,
    EvidenceTampered,
    canonical,
    line_hash,
    read_head,
    verify_chain,
)


def _write(path: Path, n: int) -> EvidenceLog:
    log = EvidenceLog(path)
    for i in range(n):
        log.append({"step": f"s{i}", "value": i})
    return log


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(vvtvctl.app, ["evidence", "verify", *args])
    return res.exit_code, res.stdout, res.stderr


def _one_sentence(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def _forge_next(path: Path) -> bytes:
    """A well-chained line appended without the writer (so the head is not moved)."""
    last = path.read_bytes().splitlines()[-1]
    prev = json.loads(last)
    import hashlib

    entry = {"step": "forged", "seq": prev["seq"] + 1, "ts": prev["ts"],
             "prev_sha256": line_hash(last)}
    entry["entry_sha256"] = hashlib.sha256(canonical(entry)).hexdigest()
    line = canonical(entry)
    with path.open("ab") as fh:
        fh.write(line + b"\n")
    return line


def test_truncated_log_refuses_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = _write(path, 5)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]))
    with pytest.raises(EvidenceTampered, match="truncated") as err:
        EvidenceLog(path).append({"step": "after-truncation"})
    assert isinstance(err.value, IntegrityError) and err.value.exit_code == 1
    assert str(path) in err.value.message
    assert path.read_bytes() == b"".join(lines[:3])  # left as found, not re-anchored
    assert read_head(log.head_path).lines == 5  # type: ignore[union-attr]
    assert not verify_chain(path).ok


def test_deleted_log_whose_head_remains_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    _write(path, 3)
    path.unlink()
    log = EvidenceLog(path)
    with pytest.raises(EvidenceTampered, match="deleted"):
        log.check()
    with pytest.raises(EvidenceTampered, match="deleted: its head anchor records 3 line"):
        log.append({"step": "after-delete"})
    assert not path.exists()  # refused without starting a fresh chain
    report = verify_chain(path)
    assert not report.ok and "deleted" in (report.reason or "")


def test_log_and_head_both_removed_are_refused_by_the_same_writer(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = _write(path, 2)
    path.unlink()
    log.head_path.unlink()
    with pytest.raises(EvidenceTampered, match="deleted"):
        log.append({"step": "after-wipe"})
    assert not path.exists()  # refused without starting a fresh chain
    path.write_bytes(b"")
    with pytest.raises(EvidenceTampered, match="went back"):
        log.append({"step": "after-wipe"})


def test_forged_line_after_the_head_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    _write(path, 3)
    _forge_next(path)
    report = verify_chain(path)
    assert not report.ok and report.first_bad_line == 4
    assert "after the head" in (report.reason or "")
    with pytest.raises(EvidenceTampered, match="after line 3"):
        EvidenceLog(path).append({"step": "after-forgery"})
    code, _, err = _cli(str(path))
    assert code == 1 and "line 4" in _one_sentence(err)


def test_missing_head_for_a_non_empty_log_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = _write(path, 2)
    log.head_path.unlink()
    report = verify_chain(path)
    assert not report.ok and "no head anchor" in (report.reason or "")
    with pytest.raises(EvidenceTampered, match="no head anchor"):
        EvidenceLog(path).append({"step": "x"})
    code, _, err = _cli(str(path))
    assert code == 1 and "no head anchor" in _one_sentence(err)


def test_non_json_last_line_is_refused_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = _write(path, 3)
    lines = path.read_bytes().splitlines()
    garbage = b"x" * len(lines[-1])  # same size: only the last line check can tell
    path.write_bytes(b"\n".join([*lines[:-1], garbage]) + b"\n")
    with pytest.raises(EvidenceTampered, match="line 3 is not valid JSON"):
        log.append({"step": "x"})
    with pytest.raises(EvidenceTampered, match="line 3"):
        list(log.entries())


@pytest.mark.parametrize("damage", ["malformed", "empty", "not-utf8", "folder"])
def test_unreadable_head_is_one_sentence_and_exit_1(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "e.jsonl"
    log = _write(path, 2)
    head = log.head_path
    if damage == "folder":
        head.unlink()
        head.mkdir()
    else:
        head.write_bytes({"malformed": b'{"lines": "two"}\n', "empty": b"",
                          "not-utf8": b'{"lines": 2, "last_sha256": "\xff"}\n'}[damage])
    with pytest.raises(EvidenceTampered) as err:
        EvidenceLog(path).append({"step": "x"})
    assert str(head) in err.value.message
    code, out, stderr = _cli(str(path))
    assert code == 1 and out == ""
    assert str(head.name) in _one_sentence(stderr)
    code, out, stderr = _cli(str(path), "--json")
    assert code == 1 and json.loads(out)["ok"] is False
    code, _, stderr = _cli(str(tmp_path / "other.jsonl"), "--since", str(head))
    assert code == 1 and str(head.name) in _one_sentence(stderr)


def test_since_accepts_an_earlier_head_file_or_inline_head(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = _write(path, 3)
    kept = tmp_path / "kept.head"
    kept.write_bytes(log.head_path.read_bytes())  # a witness kept elsewhere
    inline = read_head(log.head_path).token  # type: ignore[union-attr]
    _write(path, 2)
    for witness in (str(kept), inline):
        code, _, err = _cli(str(path), "--since", witness)
        assert code == 0, err
        assert "witness head 3:" in err and "5 lines" in err
    code, out, _ = _cli(str(path), "--since", inline, "--json")
    assert code == 0 and json.loads(out)["since"] == inline


def test_since_fails_on_a_log_rewritten_with_a_consistent_head(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = _write(path, 3)
    witness = read_head(log.head_path).token  # type: ignore[union-attr]
    path.unlink()
    log.head_path.unlink()
    rewritten = EvidenceLog(path)
    for i in range(4):
        rewritten.append({"step": f"s{i}", "value": 100 + i})  # history rewritten, re-anchored
    assert verify_chain(path).ok  # the unkeyed chain alone cannot tell
    code, _, err = _cli(str(path), "--since", witness)
    assert code == 1 and "line 3 differs from the witness head" in _one_sentence(err)
    shorter = f"9:{witness.split(':')[1]}"
    code, _, err = _cli(str(path), "--since", shorter)
    assert code == 1 and "witness head records 9 lines" in _one_sentence(err)


def test_since_that_is_neither_a_file_nor_a_head_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    _write(path, 1)
    code, _, err = _cli(str(path), "--since", "3:nothex")
    assert code == 2 and "SEQ:SHA256" in _one_sentence(err)


def test_appends_after_a_check_still_extend_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = _write(path, 2)
    assert log.check() == read_head(log.head_path)
    size = os.path.getsize(path)
    log.append({"step": "more"})
    head = read_head(log.head_path)
    assert head is not None and head.lines == 3 and head.size == os.path.getsize(path) > size
    assert verify_chain(path).ok


def test_a_record_with_a_non_utf8_name_is_written_with_escapes(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    name = os.fsdecode(b"vault/odd-\xff.bin")  # as os.listdir gives it
    entry = EvidenceLog(path).append({"path": name, name: [name, 1]})
    assert entry["path"] == "vault/odd-\\xff.bin"
    assert verify_chain(path).ok
    assert [e["path"] for e in EvidenceLog(path).entries()] == ["vault/odd-\\xff.bin"]
