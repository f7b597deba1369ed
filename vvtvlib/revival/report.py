"""The revival's evidence: the signed report, its hash-chained log and the lineage records.

Who signs? The foundation secret key never travels inside a snapshot (the archives hold
data, system and media; keys stay in the operator's custody). So the new node generates its
own Ed25519 **node key** (``vault/keys/node_ed25519``, mode 0600, minisign format) on first
revival, signs ``resurrection_report.json`` with it (``resurrection_report.json.sig``) and
records the node key's public half in the report and in the new generation's history record.
The chain of custody is therefore: foundation key -> signed manifest (verified with a pinned
key) -> node key named in the revival record whose ``ancestor_signature`` is the manifest's
signature line. An operator who wants the revived node to run future rituals installs the
foundation secret key from offline custody (see the runbook).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.errors import UsageError
from vvtvlib.core.evidence import EvidenceLog
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.layout import StationLayout
from vvtvlib.core.steps import StepRecord
from vvtvlib.vault.folder import MANIFEST
from vvtvlib.vault.history import GenerationRecord, read_history, write_record
from vvtvlib.vault.minisign import (
    PublicKey,
    generate_keypair,
    load_public_key,
    load_secret_key,
    sign_file,
)
from vvtvlib.vault.minisign import (
    signature_line as sig_line_of,
)
from vvtvlib.vault.trust import lies_inside

from .phases import RevivalReport

REPORT_NAME = "resurrection_report.json"
JSONL_NAME = "resurrection_report.jsonl"


def _writable_folder(path: Path) -> bool:
    """Whether a file can be created at ``path`` (its nearest existing folder is writable)."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def report_location(requested: Path | None, target: Path, snapshots: Path,
                    cwd: Path | None = None) -> Path:
    """Where ``logline revive`` writes its report (success or refusal), decided before any
    work, so a bad location never fails a revival after its generation is committed.

    * ``--report PATH``: an existing folder gets ``resurrection_report.json`` inside it,
      anything else is the file itself. Refused (``UsageError``, exit 2) when it lies inside
      the target (a refusal must leave the target untouched; the revived station keeps its
      own signed copy in ``TARGET/vault/``), when it is an existing non-regular file, or when
      it cannot be created.
    * no ``--report``: ``resurrection_report.json`` in the current folder when that lies
      outside the target, else beside the snapshot folder (in its parent folder), else beside
      the target (in its parent folder): the first of these outside the target and writable.
    """
    target = Path(target).absolute()
    if requested is not None:
        path = Path(requested).absolute()
        if path.is_dir():
            path = path / REPORT_NAME
        if lies_inside(path, target):
            raise UsageError(f"--report {requested} lies inside the target {target}; a refused "
                             "revival must leave the target untouched, so the report goes "
                             "outside it (the revived station keeps its own copy in "
                             "TARGET/vault/)", path=path)
        if path.exists() and not path.is_file():
            raise UsageError(f"--report {requested} exists and is not a regular file",
                             path=path)
        if not _writable_folder(path):
            raise UsageError(f"--report {requested}: the report cannot be written there "
                             "(no writable folder)", path=path)
        return path
    here = Path(cwd or Path.cwd()).absolute()
    for folder in (here, Path(snapshots).absolute().parent, target.parent):
        path = folder / REPORT_NAME
        if not lies_inside(path, target) and _writable_folder(path):
            return path
    raise UsageError(f"no writable folder outside the target {target} for the report; pass "
                     "--report PATH", path=target)


def node_key_path(layout: StationLayout) -> Path:
    return layout.keys / "node_ed25519"


def ensure_node_key(layout: StationLayout) -> tuple[Path, PublicKey, bool]:
    """The node's signing key, generated on first use (0600). Returns (path, pub, created)."""
    path = node_key_path(layout)
    if path.exists():
        sk = load_secret_key(path)
        return path, sk.public, False
    layout.keys.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.keys, 0o700)
    pub = generate_keypair(path, comment=f"vvtv node key of {layout.root}")
    return path, pub, True


def write_json(path: Path, data: dict[str, Any], mode: int = 0o644) -> Path:
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", mode=mode)
    return path


class PhaseLog:
    """One hash-chained line per phase in ``vault/resurrection_report.jsonl``.

    Phases that finish before the target exists (provision, verify, restore) are buffered and
    written as soon as the target is in place; the log is never written to a target that a
    refusal must leave untouched.
    """

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []
        self._log: EvidenceLog | None = None

    def open(self, layout: StationLayout) -> None:
        if self._log is not None:
            return
        self._log = EvidenceLog(layout.vault / JSONL_NAME, mode=0o600)
        for line in self._pending:
            self._log.append(line)
        self._pending.clear()

    def append(self, line: dict[str, Any]) -> None:
        """One line (``phase_line``); buffered until the target exists."""
        if self._log is None:
            self._pending.append(line)
        else:
            self._log.append(line)

    def final(self, report_path: Path, report_sha256: str, status: str, revival_id: str) -> None:
        if self._log is not None:
            self._log.append({"revival": revival_id, "phase": "final", "status": status,
                              "report": report_path.name, "report_sha256": report_sha256})


def phase_line(record: StepRecord, revival_id: str) -> dict[str, Any]:
    """The evidence line of a finished phase."""
    return {"revival": revival_id, "phase": record.name, "status": record.status.value,
            "started_utc": record.started_utc, "duration_s": record.duration_s,
            "warnings": list(record.warnings), "error": record.error_message}


def sha256_path(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sign_report(layout: StationLayout, report: RevivalReport, new_generation: int
                ) -> tuple[Path, Path]:
    """Write ``vault/resurrection_report.json`` and its minisign signature (node key)."""
    key_path, pub, created = ensure_node_key(layout)
    report.node_key = {"path": str(key_path.relative_to(layout.root)), "key_id": pub.id_hex,
                       "public_key": pub.to_base64(), "created": created}
    path = write_json(layout.vault / REPORT_NAME, report.to_dict())
    sig = path.with_name(path.name + ".sig")
    sign_file(load_secret_key(key_path), path, sig,
              {"station": report.station_id or "", "generation": new_generation,
               "kind": "revival"}, untrusted=f"vvtv revival report, node key {pub.id_hex}")
    return path, sig


def record_lineage(layout: StationLayout, *, report: RevivalReport, manifest_sha256: str,
                   manifest_signature: str, ancestor_of_snapshot: str | None,
                   report_path: Path, report_sig: Path) -> list[Path]:
    """History gains the snapshot's generation (if this node did not know it) and
    Generation+1 for this revival, whose ancestor is the snapshot's signature."""
    assert report.source_generation is not None and report.new_generation is not None
    known = {r.generation: r for r in read_history(layout.history)}
    written = []
    src = report.source_generation
    if src not in known and src > 0:
        written.append(write_record(layout.history, GenerationRecord(
            generation=src, kind="snapshot", station_id=report.station_id or "",
            stamp=report.stamp or "", created_utc=utc_iso(), signature=manifest_signature,
            ancestor_signature=ancestor_of_snapshot, manifest_sha256=manifest_sha256,
            pubkey=report.trust.get("public_key"),
            document=f"manifests/ancestor-{report.stamp}/{MANIFEST}",
            document_sha256=manifest_sha256)))
    pub = load_public_key(node_key_path(layout).with_name("node_ed25519.pub"))
    written.append(write_record(layout.history, GenerationRecord(
        generation=report.new_generation, kind="revival", station_id=report.station_id or "",
        stamp=report.stamp or "", created_utc=utc_iso(), signature=sig_line_of(report_sig),
        ancestor_signature=manifest_signature, manifest_sha256=manifest_sha256,
        pubkey=pub.to_base64(), document=report_path.name,
        document_sha256=sha256_path(report_path))))
    return written
