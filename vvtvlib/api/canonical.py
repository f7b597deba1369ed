"""The seed's HMAC: ``base64(HMAC-SHA256(secret, METHOD|PATH|BODY|TS|NONCE))``.

PATH is the raw request target as sent (path, plus ``?query`` when there is one), BODY the
raw bytes (empty for GET). ``sign`` is what a client computes; ``verify`` compares in
constant time.
"""

from __future__ import annotations

import base64
import hmac
import re

TS_RE = re.compile(r"^[0-9]{1,16}$")
NONCE_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{12}$")


def canonical(method: str, target: str | bytes, body: bytes, ts: str, nonce: str) -> bytes:
    t = target if isinstance(target, bytes) else target.encode("latin-1")
    return b"|".join((method.upper().encode("ascii"), t, body, ts.encode("ascii"),
                      nonce.encode("ascii")))


def sign(secret: str | bytes, method: str, target: str | bytes, body: bytes, ts: str,
         nonce: str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.digest(key, canonical(method, target, body, ts, nonce), "sha256")  # one-shot
    return base64.b64encode(mac).decode("ascii")


def verify(secret: str | bytes, signature: str, method: str, target: str | bytes, body: bytes,
           ts: str, nonce: str) -> bool:
    expected = sign(secret, method, target, body, ts, nonce)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("latin-1",
                                                                          "replace"))


def headers(key: str, secret: str, method: str, target: str, body: bytes, *, ts_ms: int,
            nonce: str) -> dict[str, str]:
    """The four request headers of a signed call (the Python client)."""
    ts = str(ts_ms)
    return {"X-Api-Key": key, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": sign(secret, method, target, body, ts, nonce)}
