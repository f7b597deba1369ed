"""Key expiry records and rotation.

A key in ``vault/keys/`` may carry an expiry record ``<key>.meta.json``::

    {"schema": "vvtv.key-meta/1", "key": "foundation_ed25519", "kind": "minisign",
     "key_id": "AA01...", "created_utc": "...", "expires_utc": "...", "rotation": "minisign"}

``kind`` ``minisign`` keys are rotated here: a new key pair replaces the old one in place, an
**endorsement statement** (``vault/keys/endorsements/<old>-to-<new>.json``) names both keys and
is signed with the *old* secret key, so anyone who trusts the old key can follow the trust to
the new one (``verify_endorsement``). The old pair moves to ``vault/keys/retired/``; both public
keys are pinned in ``vault/keys/trusted/`` so snapshots signed before and after verify. Other
kinds (a VPN node key, an API token) have ``rotation: "manual"``: they are listed, not rotated.
A key without a record is listed as "no recorded expiry".
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, utc_iso
from vvtvlib.core.errors import SignatureError, UsageError
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.minisign import (
    PublicKey,
    generate_keypair,
    load_public_key,
    load_secret_key,
    parse_public_key,
    sign_file,
    verify_file,
)

META_SCHEMA = "vvtv.key-meta/1"
ENDORSEMENT_SCHEMA = "vvtv.key-endorsement/1"
DEFAULT_VALIDITY = timedelta(days=365)


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class KeyStatus:
    key: str
    kind: str
    key_id: str | None
    expires_utc: str | None
    days_left: float | None
    rotation: str  # "minisign" | "manual" | "none"
    due: bool  # expires within the horizon (or already expired)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "key_id": self.key_id,
                "expires_utc": self.expires_utc,
                "days_left": None if self.days_left is None else round(self.days_left, 2),
                "rotation": self.rotation, "due": self.due}


def meta_path(layout: StationLayout, key: str) -> Path:
    return layout.keys / f"{key}.meta.json"


def write_key_meta(layout: StationLayout, key: str, *, expires: datetime,
                   kind: str = "minisign", created: datetime | None = None,
                   rotation: str | None = None, clock: Clock = SYSTEM_CLOCK,
                   extra: dict[str, Any] | None = None) -> Path:
    """Record when ``key`` expires (written at key creation, or by an operator)."""
    key_id = None
    pub = layout.keys / f"{key}.pub"
    if kind == "minisign" and pub.exists():
        key_id = load_public_key(pub).id_hex
    record = {"schema": META_SCHEMA, "key": key, "kind": kind, "key_id": key_id,
              "created_utc": utc_iso(created or clock.now()), "expires_utc": utc_iso(expires),
              "rotation": rotation or ("minisign" if kind == "minisign" else "manual"),
              **(extra or {})}
    path = meta_path(layout, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.chmod(path, 0o600)
    return path


def key_statuses(layout: StationLayout, *, within_days: float = 60,
                 clock: Clock = SYSTEM_CLOCK) -> list[KeyStatus]:
    """Every key in ``vault/keys/`` (top level) with its recorded expiry, if any."""
    if not layout.keys.is_dir():
        return []
    now = clock.now()
    out: list[KeyStatus] = []
    seen: set[str] = set()
    for meta in sorted(layout.keys.glob("*.meta.json")):
        data = json.loads(meta.read_text())
        if data.get("schema") != META_SCHEMA:
            raise UsageError(f"{meta}: schema is {data.get('schema')!r}, expected {META_SCHEMA}",
                             path=meta)
        key = data["key"]
        seen.add(key)
        expires = _parse_utc(data["expires_utc"])
        days_left = (expires - now).total_seconds() / 86400
        out.append(KeyStatus(key, data.get("kind", "minisign"), data.get("key_id"),
                             data["expires_utc"], days_left, data.get("rotation", "manual"),
                             days_left <= within_days))
    for pub in sorted(layout.keys.glob("*.pub")):
        key = pub.name[:-len(".pub")]
        if key not in seen:
            out.append(KeyStatus(key, "minisign", load_public_key(pub).id_hex, None, None,
                                 "none", False))
    return out


@dataclass(frozen=True)
class Rotation:
    key: str
    old_key_id: str
    new_key_id: str
    statement: str
    signature: str
    new_expires_utc: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def rotate_key(layout: StationLayout, key: str, *, reason: str = "expires soon",
               validity: timedelta | None = None, clock: Clock = SYSTEM_CLOCK) -> Rotation:
    """Replace a minisign key in place by a new one endorsed with the old one."""
    secret = layout.keys / key
    meta = meta_path(layout, key)
    old_sk = load_secret_key(secret)
    old_meta = json.loads(meta.read_text()) if meta.exists() else {}
    if old_meta and validity is None:
        validity = _parse_utc(old_meta["expires_utc"]) - _parse_utc(old_meta["created_utc"])
    validity = validity if validity and validity > timedelta(0) else DEFAULT_VALIDITY
    now = clock.now()
    staging = layout.keys / f".{key}.rotating"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    new_pub = generate_keypair(staging / key, f"minisign public key (rotated from {key})")
    old_id, new_id = old_sk.public.id_hex, new_pub.id_hex
    statement = {"schema": ENDORSEMENT_SCHEMA, "key": key, "old_key_id": old_id,
                 "old_public_key": old_sk.public.to_base64(), "new_key_id": new_id,
                 "new_public_key": new_pub.to_base64(), "created_utc": utc_iso(now),
                 "new_expires_utc": utc_iso(now + validity), "reason": reason}
    endorsements = layout.keys / "endorsements"
    endorsements.mkdir(exist_ok=True)
    stmt_path = endorsements / f"{key}.{old_id}-to-{new_id}.json"
    stmt_path.write_text(json.dumps(statement, indent=1, sort_keys=True) + "\n")
    sig_path = stmt_path.with_name(stmt_path.name + ".sig")
    sign_file(old_sk, stmt_path, sig_path, {"endorse": new_id, "by": old_id},
              untrusted=f"endorsement of key {new_id} by key {old_id}")
    # Pin both halves before the old pair leaves, so nothing signed is ever unverifiable.
    layout.trusted_keys.mkdir(parents=True, exist_ok=True)
    (layout.trusted_keys / f"{key}.{old_id}.pub").write_text(old_sk.public.file_text())
    (layout.trusted_keys / f"{key}.{new_id}.pub").write_text(new_pub.file_text())
    retired = layout.keys / "retired"
    retired.mkdir(mode=0o700, exist_ok=True)
    os.replace(secret, retired / f"{key}.{old_id}")
    if (layout.keys / f"{key}.pub").exists():
        os.replace(layout.keys / f"{key}.pub", retired / f"{key}.{old_id}.pub")
    if meta.exists():
        os.replace(meta, retired / f"{key}.{old_id}.meta.json")
    os.replace(staging / key, secret)
    os.replace(staging / f"{key}.pub", layout.keys / f"{key}.pub")
    staging.rmdir()
    write_key_meta(layout, key, expires=now + validity, created=now, clock=clock,
                   extra={"endorsed_by": old_id, "endorsement": stmt_path.name})
    return Rotation(key, old_id, new_id, str(stmt_path), str(sig_path),
                    statement["new_expires_utc"])


def verify_endorsement(statement: str | Path, trusted: PublicKey | list[PublicKey]
                       ) -> PublicKey:
    """Check an endorsement with the old (trusted) key; return the new key it endorses."""
    statement = Path(statement)
    verified = verify_file(trusted, statement, statement.with_name(statement.name + ".sig"))
    data = json.loads(statement.read_text())
    if data.get("schema") != ENDORSEMENT_SCHEMA or data.get("old_key_id") != verified.key_id:
        raise SignatureError(f"{statement}: not an endorsement by key {verified.key_id}",
                             path=statement)
    new = parse_public_key(data["new_public_key"], statement)
    if new.id_hex != data.get("new_key_id"):
        raise SignatureError(f"{statement}: new key id does not match its public key",
                             path=statement)
    return new
