"""Tenant secrets at rest: AES-GCM under a master key file (0600), never hashed, never logged.

An HMAC can only be verified with the secret itself, so it is stored encrypted; the
``api_secret_hash`` column keeps a fingerprint (sha256) for look-ups and audits only.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vvtvlib.core.errors import DependencyMissing, IntegrityError
from vvtvlib.core.fsio import atomic_write


def new_master_key(path: Path) -> Path:
    return atomic_write(path, base64.b64encode(AESGCM.generate_key(256)) + b"\n", mode=0o600)


class MasterKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise IntegrityError("the API master key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DependencyMissing(f"no API master key at {path} (run `vvtvctl api init`)",
                                    path=path) from None
        return cls(base64.b64decode(raw.strip()))

    def encrypt(self, plaintext: str, aad: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), aad.encode())

    def decrypt(self, blob: bytes, aad: str) -> str:
        try:
            return self._aead.decrypt(blob[:12], blob[12:], aad.encode()).decode()
        except InvalidTag:
            raise IntegrityError("a tenant secret does not decrypt under the master key") from None


def new_public_key() -> str:
    return "vvtv-pub-" + secrets.token_hex(8)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:32]
