"""JWT rules (SPEC 5): kid in jwks.json, EdDSA/ES256/RS256 only, exp - iat <= 15 min, aud/iss."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from vvtvlib.api import jwtauth
from vvtvlib.api.errors import AuthFailed
from vvtvlib.core.clock import FakeClock

AUD, ISS = "vvtv-api", "vvtv-lab"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, str, FakeClock]:
    clock = FakeClock()
    jwks = tmp_path / "jwks.json"
    kid = jwtauth.new_signing_key(tmp_path, jwks, clock=clock)
    return tmp_path, jwks, kid, clock


def token(keys: tuple[Path, Path, str, FakeClock], **over: object) -> str:
    d, jwks, kid, clock = keys
    now = int(clock.now().timestamp())
    claims = {"tenant_id": "t_1", "scopes": ["infer"], "iat": now, "exp": now + 600,
              "iss": ISS, "aud": AUD}
    claims.update({k: v for k, v in over.items() if not k.startswith("_")})
    pem = jwtauth.key_path(d, kid).read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    return jwt.encode(claims, key, algorithm="EdDSA",  # type: ignore[arg-type]
                      headers={"kid": over.get("_kid", kid)})


def check(keys: tuple[Path, Path, str, FakeClock], tok: str) -> jwtauth.Claims:
    _, jwks, _, clock = keys
    return jwtauth.verify(tok, jwtauth.Jwks.load(jwks, clock),
                          now_s=clock.now().timestamp(), issuer=ISS, audience=AUD)


def test_a_valid_token(keys: tuple[Path, Path, str, FakeClock]) -> None:
    c = check(keys, token(keys))
    assert c.tenant_id == "t_1" and c.scopes == ("infer",)
    d, jwks, kid, clock = keys
    issued = jwtauth.issue(d, jwks, tenant_id="t_2", scopes=["usage"], ttl_s=600, issuer=ISS,
                           audience=AUD, clock=clock)
    assert check(keys, issued).tenant_id == "t_2"


@pytest.mark.parametrize("case", ["expired", "future", "too_long", "wrong_aud", "wrong_iss",
                                  "unknown_kid", "no_tenant", "scopes_not_list"])
def test_refused_claims(keys: tuple[Path, Path, str, FakeClock], case: str) -> None:
    now = int(keys[3].now().timestamp())
    over: dict[str, object] = {
        "expired": {"iat": now - 700, "exp": now - 100},
        "future": {"iat": now + 300, "exp": now + 900},
        "too_long": {"exp": now + 901},
        "wrong_aud": {"aud": "someone-else"},
        "wrong_iss": {"iss": "evil"},
        "unknown_kid": {"_kid": "nope"},
        "no_tenant": {"tenant_id": None},
        "scopes_not_list": {"scopes": "infer"},
    }[case]  # type: ignore[assignment]
    tok = token(keys, **over)
    if case == "no_tenant":
        tok = token(keys)
        _, jwks, kid, clock = keys
        d = keys[0]
        pem = serialization.load_pem_private_key(jwtauth.key_path(d, kid).read_bytes(), None)
        tok = jwt.encode({"scopes": ["infer"], "iat": now, "exp": now + 60, "iss": ISS,
                          "aud": AUD}, pem, algorithm="EdDSA",  # type: ignore[arg-type]
                         headers={"kid": kid})
    with pytest.raises(AuthFailed):
        check(keys, tok)


def _b64(d: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused(keys: tuple[Path, Path, str, FakeClock]) -> None:
    now = int(keys[3].now().timestamp())
    tok = (_b64({"alg": "none", "kid": keys[2], "typ": "JWT"}) + "." +
           _b64({"tenant_id": "t_1", "scopes": ["infer"], "iat": now, "exp": now + 60,
                 "iss": ISS, "aud": AUD}) + ".")
    with pytest.raises(AuthFailed):
        check(keys, tok)


def test_hs256_signed_with_the_public_key_is_refused(keys: tuple[Path, Path, str, FakeClock]
                                                     ) -> None:
    import hashlib
    import hmac

    _, jwks, kid, clock = keys
    pub = json.loads(jwks.read_text())["keys"][0]["x"]
    now = int(clock.now().timestamp())
    head = _b64({"alg": "HS256", "kid": kid, "typ": "JWT"})
    body = _b64({"tenant_id": "t_1", "scopes": ["infer"], "iat": now, "exp": now + 60,
                 "iss": ISS, "aud": AUD})
    for secret in (pub.encode(), jwks.read_bytes()):
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        tok = f"{head}.{body}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        with pytest.raises(AuthFailed):
            check(keys, tok)


def test_two_keys_are_valid_during_a_rotation(keys: tuple[Path, Path, str, FakeClock]) -> None:
    d, jwks, old, clock = keys
    old_tok = token(keys)
    new = jwtauth.new_signing_key(d, jwks, clock=clock, grace_s=7 * 86400)
    new_tok = token((d, jwks, new, clock))
    assert check(keys, old_tok).kid == old and check(keys, new_tok).kid == new
    clock.advance(7 * 86400 + 1)
    fresh = token((d, jwks, old, clock))
    with pytest.raises(AuthFailed):  # the old key left the set after 7 days
        check(keys, fresh)
    assert check(keys, token((d, jwks, new, clock))).kid == new
