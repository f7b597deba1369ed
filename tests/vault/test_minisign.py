from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from tests.plugins.system import need_tool
from vvtvlib.core.errors import SignatureError, UsageError
from vvtvlib.vault.minisign import (
    load_public_key,
    load_public_keys,
    load_secret_key,
    sign_file,
    signature_line,
    verify_file,
)

from .conftest import Keys


@pytest.fixture
def signed(tmp_path: Path, keys: Keys) -> tuple[Path, Path]:
    doc = tmp_path / "last_manifest.json"
    doc.write_bytes(b'{"station_id": "lab"}\n' * 100)
    sig = tmp_path / "signature.sig"
    sign_file(keys.secret, doc, sig, {"station": "lab", "generation": 4})
    return doc, sig


def test_keygen_writes_private_secret_and_minisign_public_key(keys: Keys) -> None:
    assert keys.secret.stat().st_mode & 0o777 == 0o600
    lines = keys.public.read_text().splitlines()
    assert lines[0] == f"untrusted comment: minisign public key {keys.pub.id_hex}"
    raw = base64.b64decode(lines[1])
    assert raw[:2] == b"Ed" and len(raw) == 42
    assert load_secret_key(keys.secret).public == keys.pub == load_public_key(keys.public)


def test_sign_and_verify_exposes_trusted_fields(signed: tuple[Path, Path], keys: Keys) -> None:
    doc, sig = signed
    result = verify_file([keys.pub], doc, sig)
    assert result.key_id == keys.pub.id_hex
    assert result.fields["station"] == "lab" and result.fields["generation"] == "4"
    assert result.fields["file"] == "last_manifest.json" and int(result.fields["timestamp"]) > 0
    assert base64.b64decode(signature_line(sig))[:2] == b"ED"


def test_modified_byte_anywhere_fails(signed: tuple[Path, Path], keys: Keys) -> None:
    doc, sig = signed
    data = bytearray(doc.read_bytes())
    data[len(data) // 2] ^= 0x01
    doc.write_bytes(bytes(data))
    with pytest.raises(SignatureError, match="last_manifest.json.*does not match the file"):
        verify_file(keys.pub, doc, sig)


def test_modified_trusted_comment_fails(signed: tuple[Path, Path], keys: Keys) -> None:
    doc, sig = signed
    sig.write_text(sig.read_text().replace("generation:4", "generation:5"))
    with pytest.raises(SignatureError, match="signature.sig: trusted comment .*modified"):
        verify_file(keys.pub, doc, sig)


def test_unknown_key_fails(signed: tuple[Path, Path], other_keys: Keys) -> None:
    doc, sig = signed
    with pytest.raises(SignatureError, match="signature.sig: signed by unknown key"):
        verify_file(other_keys.pub, doc, sig)


def test_same_key_id_but_other_key_fails(signed: tuple[Path, Path], keys: Keys,
                                         other_keys: Keys) -> None:
    doc, sig = signed
    impostor = type(keys.pub)(keys.pub.key_id, other_keys.pub.key)
    with pytest.raises(SignatureError, match="does not match"):
        verify_file(impostor, doc, sig)


@pytest.mark.parametrize("mangle", [
    lambda t: "",
    lambda t: t.replace("untrusted comment:", "comment:"),
    lambda t: t.replace("\ntrusted comment: ", "\ntrusted: "),
    lambda t: "\n".join(ln if i != 1 else ln[:-8] for i, ln in enumerate(t.splitlines())),
    lambda t: "\n".join(ln if i != 1 else "!!notbase64!!" for i, ln in enumerate(t.splitlines())),
    lambda t: "\n".join(t.splitlines()[:3]),
    lambda t: t + "extra line\n",
], ids=["empty", "no-untrusted", "no-trusted", "short-sig", "bad-base64", "no-global", "extra"])
def test_malformed_signature_files_fail_closed(signed: tuple[Path, Path], keys: Keys,
                                               mangle) -> None:
    doc, sig = signed
    sig.write_text(mangle(sig.read_text()))
    with pytest.raises(SignatureError, match="signature.sig"):
        verify_file(keys.pub, doc, sig)


def test_legacy_signature_refused_unless_allowed(tmp_path: Path, keys: Keys) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"hello")
    sk = load_secret_key(keys.secret)
    sig = sk.sign(b"hello")
    comment = "timestamp:1\tfile:doc.txt"
    text = ("untrusted comment: legacy\n"
            + base64.b64encode(b"Ed" + sk.key_id + sig).decode() + "\n"
            + f"trusted comment: {comment}\n"
            + base64.b64encode(sk.sign(sig + comment.encode())).decode() + "\n")
    (tmp_path / "doc.sig").write_text(text)
    with pytest.raises(SignatureError, match="legacy"):
        verify_file(keys.pub, doc, tmp_path / "doc.sig")
    assert not verify_file(keys.pub, doc, tmp_path / "doc.sig", allow_legacy=True).prehashed


def test_secret_key_readable_by_others_is_refused(keys: Keys, tmp_path: Path) -> None:
    os.chmod(keys.secret, 0o640)
    with pytest.raises(SignatureError, match="readable by group or others.*chmod 600"):
        load_secret_key(keys.secret)


def test_corrupt_secret_key_and_public_key_are_refused(keys: Keys, tmp_path: Path) -> None:
    lines = keys.secret.read_text().splitlines()
    raw = bytearray(base64.b64decode(lines[1]))
    raw[70] ^= 0xFF
    keys.secret.write_text(lines[0] + "\n" + base64.b64encode(bytes(raw)).decode() + "\n")
    with pytest.raises(SignatureError, match="checksum"):
        load_secret_key(keys.secret)
    bad_pub = tmp_path / "bad.pub"
    bad_pub.write_text("untrusted comment: x\nAAAA\n")
    with pytest.raises(SignatureError, match="bad.pub"):
        load_public_key(bad_pub)
    empty = tmp_path / "trusted"
    empty.mkdir()
    with pytest.raises(SignatureError, match="trusted: no \\*.pub"):
        load_public_keys(empty)


def test_encrypted_secret_key_is_refused_with_a_clear_sentence(keys: Keys) -> None:
    lines = keys.secret.read_text().splitlines()
    raw = bytearray(base64.b64decode(lines[1]))
    raw[2:4] = b"Sc"
    keys.secret.write_text(lines[0] + "\n" + base64.b64encode(bytes(raw)).decode() + "\n")
    with pytest.raises(UsageError, match="password"):
        load_secret_key(keys.secret)


def test_our_signature_verifies_with_minisign(signed: tuple[Path, Path], keys: Keys) -> None:
    minisign = need_tool("minisign")
    doc, sig = signed
    out = subprocess.run([minisign, "-V", "-p", str(keys.public), "-m", str(doc), "-x", str(sig)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "station:lab\tgeneration:4" in out.stdout
    doc.write_bytes(doc.read_bytes() + b" ")
    bad = subprocess.run([minisign, "-V", "-p", str(keys.public), "-m", str(doc), "-x", str(sig)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode != 0


def test_minisign_signature_and_keys_work_with_ours(tmp_path: Path) -> None:
    minisign = need_tool("minisign")
    sk, pk = tmp_path / "ms.key", tmp_path / "ms.pub"
    subprocess.run([minisign, "-G", "-W", "-s", str(sk), "-p", str(pk)], check=True,
                   capture_output=True)
    doc = tmp_path / "doc.bin"
    doc.write_bytes(os.urandom(10_000))
    subprocess.run([minisign, "-S", "-s", str(sk), "-m", str(doc), "-t", "station:lab"],
                   check=True, capture_output=True)
    result = verify_file(load_public_key(pk), doc, tmp_path / "doc.bin.minisig")
    assert result.fields == {"station": "lab"}
    # a minisign key signs with our code, and minisign signs with a key we generated
    ours = tmp_path / "ours.sig"
    sign_file(sk, doc, ours)
    assert verify_file(load_public_key(pk), doc, ours).key_id == load_public_key(pk).id_hex
    our_key = tmp_path / "ourkey"
    from vvtvlib.vault.minisign import generate_keypair
    generate_keypair(our_key)
    subprocess.run([minisign, "-S", "-s", str(our_key), "-m", str(doc), "-x",
                    str(tmp_path / "x.sig")], check=True, capture_output=True)
    verify_file(load_public_key(tmp_path / "ourkey.pub"), doc, tmp_path / "x.sig")
    doc.write_bytes(b"changed")
    with pytest.raises(SignatureError):
        verify_file(load_public_key(pk), doc, tmp_path / "doc.bin.minisig")
