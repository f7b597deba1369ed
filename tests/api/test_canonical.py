"""The canonical string and the signature, byte for byte against the seed's shell pipeline."""

from __future__ import annotations

import subprocess

import pytest

from vvtvlib.api.canonical import NONCE_RE, TS_RE, canonical, sign, verify

BODY = b'{"task":"expand_queries","strategy":"FASTEST","payload":{"seed":"abc"}}'
NONCE = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_canonical_string_is_the_seeds() -> None:
    got = canonical("post", "/v1/infer", BODY, "1700000000000", NONCE)
    assert got == b"POST|/v1/infer|" + BODY + b"|1700000000000|" + NONCE.encode()
    assert canonical("GET", "/v1/usage?from=2026-01-01", b"", "1", NONCE) == \
        b"GET|/v1/usage?from=2026-01-01||1|" + NONCE.encode()


def test_signature_matches_printf_openssl_base64() -> None:
    secret = "s3cr3t-with-symbols_+/"
    script = ('printf "POST|/v1/infer|%s|%s|%s" "$BODY" "$TS" "$NONCE" '
              '| openssl dgst -sha256 -hmac "$SECRET" -binary | base64')
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                         env={"BODY": BODY.decode(), "TS": "1700000000000", "NONCE": NONCE,
                              "SECRET": secret, "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == sign(secret, "POST", "/v1/infer", BODY, "1700000000000",
                                      NONCE)


@pytest.mark.parametrize("field", ["method", "target", "body", "ts", "nonce", "secret"])
def test_any_changed_part_breaks_the_signature(field: str) -> None:
    parts = {"method": "POST", "target": "/v1/usage?from=1", "body": BODY, "ts": "17",
             "nonce": NONCE, "secret": "k"}
    sig = sign(parts["secret"], parts["method"], parts["target"], parts["body"],  # type: ignore[arg-type]
               parts["ts"], parts["nonce"])  # type: ignore[arg-type]
    changed = dict(parts)
    changed[field] = {"method": "GET", "target": "/v1/usage?from=2", "body": BODY + b" ",
                      "ts": "18", "nonce": NONCE.upper(), "secret": "k2"}[field]
    assert not verify(changed["secret"], sig, changed["method"], changed["target"],  # type: ignore[arg-type]
                      changed["body"], changed["ts"], changed["nonce"])  # type: ignore[arg-type]
    assert verify(parts["secret"], sig, parts["method"], parts["target"], parts["body"],  # type: ignore[arg-type]
                  parts["ts"], parts["nonce"])  # type: ignore[arg-type]


def test_header_formats() -> None:
    assert TS_RE.match("1700000000000") and not TS_RE.match("17e3")
    assert not TS_RE.match("-5") and not TS_RE.match("1.5") and not TS_RE.match("")
    assert NONCE_RE.match(NONCE) and NONCE_RE.match(NONCE.upper())
    assert not NONCE_RE.match(NONCE[:-1] + "|") and not NONCE_RE.match("abc")


def test_garbage_signature_is_refused_without_error() -> None:
    assert not verify("k", "ünicode☃", "GET", "/", b"", "1", NONCE)
    assert not verify("k", "", "GET", "/", b"", "1", NONCE)
