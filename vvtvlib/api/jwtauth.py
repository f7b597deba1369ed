"""JWT bearer tokens (SPEC 5): ``kid`` in ``jwks.json``; EdDSA, ES256 or RS256 only (the
algorithm comes from the key, never from the token, so ``none`` and HS256-with-the-public-key
are refused); claims ``tenant_id``, ``scopes``, ``exp``, ``iat`` with exp - iat <= 15 min;
``iss``/``aud`` when configured. Two keys are valid together during a rotation (7 days).
The lab's signing keys live in ``vault/keys/api_jwt_<kid>.pem`` (0600).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock
from vvtvlib.core.errors import DependencyMissing, UsageError
from vvtvlib.core.fsio import atomic_write

from .errors import AuthFailed

ALGS = {"OKP": "EdDSA", "EC": "ES256", "RSA": "RS256"}
LEEWAY_S = 30


@dataclass(frozen=True)
class Claims:
    tenant_id: str
    scopes: tuple[str, ...]
    kid: str
    exp: int
    iat: int


class Jwks:
    """The verification keys: ``kid`` -> (algorithm, key); keys past ``not_after`` dropped."""

    def __init__(self, doc: dict[str, Any], clock: Clock = SYSTEM_CLOCK) -> None:
        self.keys: dict[str, tuple[str, Any]] = {}
        now = clock.now().timestamp()
        for jwk in doc.get("keys", []):
            kid, kty = jwk.get("kid"), jwk.get("kty")
            if not kid or kty not in ALGS:
                continue
            if jwk.get("not_after") and float(jwk["not_after"]) < now:
                continue
            alg = ALGS[kty]
            if jwk.get("alg", alg) != alg:
                continue
            clean = {k: v for k, v in jwk.items() if k != "not_after"}
            self.keys[kid] = (alg, jwt.PyJWK(clean, algorithm=alg).key)

    @classmethod
    def load(cls, path: Path, clock: Clock = SYSTEM_CLOCK) -> Jwks:
        if not path.exists():
            return cls({"keys": []}, clock)
        return cls(json.loads(path.read_text()), clock)


def verify(token: str, jwks: Jwks, *, now_s: float, max_ttl_s: int = 900,
           issuer: str = "", audience: str = "") -> Claims:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthFailed("the bearer token is not a well-formed JWT") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in jwks.keys:
        raise AuthFailed("the bearer token names an unknown key id")
    alg, key = jwks.keys[kid]
    if header.get("alg") != alg:
        raise AuthFailed("the bearer token's algorithm is not allowed for its key")
    try:
        claims = jwt.decode(token, key=key, algorithms=[alg], audience=audience or None,
                            issuer=issuer or None,
                            options={"verify_exp": False, "verify_iat": False,
                                     "verify_nbf": False, "verify_aud": bool(audience),
                                     "require": ["exp", "iat", "tenant_id", "scopes"]})
    except jwt.PyJWTError:
        raise AuthFailed("the bearer token does not verify") from None
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise AuthFailed("the bearer token's exp and iat must be integers")
    if exp - iat > max_ttl_s or exp <= iat:
        raise AuthFailed(f"the bearer token may live at most {max_ttl_s} s")
    if iat > now_s + LEEWAY_S:
        raise AuthFailed("the bearer token is issued in the future")
    if exp <= now_s - LEEWAY_S:
        raise AuthFailed("the bearer token has expired")
    scopes, tid = claims.get("scopes"), claims.get("tenant_id")
    if not isinstance(tid, str) or not isinstance(scopes, list) or \
            not all(isinstance(s, str) for s in scopes):
        raise AuthFailed("the bearer token's tenant_id or scopes are malformed")
    return Claims(tid, tuple(scopes), kid, exp, iat)


# -- the lab's keys --------------------------------------------------------------------------
def key_path(keys_dir: Path, kid: str) -> Path:
    return keys_dir / f"api_jwt_{kid}.pem"


def new_signing_key(keys_dir: Path, jwks_path: Path, *, clock: Clock = SYSTEM_CLOCK,
                    grace_s: int = 7 * 86400) -> str:
    """A new Ed25519 key with a ``kid``; it joins ``jwks.json``, and the keys already there
    stay valid for ``grace_s`` (two keys during a rotation). Returns the new kid."""
    kid = "lab-" + clock.now().strftime("%Y%m%d") + "-" + secrets.token_hex(3)
    priv = Ed25519PrivateKey.generate()
    atomic_write(key_path(keys_dir, kid), priv.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), mode=0o600)
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(priv.public_key()))
    jwk.update(kid=kid, alg="EdDSA", use="sig")
    doc = json.loads(jwks_path.read_text()) if jwks_path.exists() else {"keys": []}
    until = int(clock.now().timestamp()) + grace_s
    for old in doc["keys"]:
        old.setdefault("not_after", until)
    doc["keys"] = [k for k in doc["keys"] if float(k.get("not_after", until)) >=
                   clock.now().timestamp()] + [jwk]
    atomic_write(jwks_path, json.dumps(doc, indent=2) + "\n")
    return kid


def issue(keys_dir: Path, jwks_path: Path, *, tenant_id: str, scopes: list[str], ttl_s: int,
          issuer: str = "", audience: str = "", clock: Clock = SYSTEM_CLOCK,
          kid: str | None = None) -> str:
    """Sign a token with the newest lab key (or ``kid``)."""
    if ttl_s < 1:
        raise UsageError("--ttl must be at least 1 second")
    doc = json.loads(jwks_path.read_text()) if jwks_path.exists() else {"keys": []}
    kids = [k["kid"] for k in doc["keys"] if key_path(keys_dir, k["kid"]).exists()]
    if kid is None and not kids:
        raise DependencyMissing(f"no lab signing key for {jwks_path} (run `vvtvctl api init`)")
    kid = kid or kids[-1]
    pem = key_path(keys_dir, kid).read_bytes()
    now = int(clock.now().timestamp())
    claims: dict[str, Any] = {"tenant_id": tenant_id, "scopes": scopes, "iat": now,
                              "exp": now + ttl_s}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    key = serialization.load_pem_private_key(pem, None)
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"the lab key {kid} is not an Ed25519 key")
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})
