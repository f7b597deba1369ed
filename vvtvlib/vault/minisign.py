"""Ed25519 signatures in the minisign file formats, so the standard ``minisign`` tool can check
what we sign and we can check what it signs.

Formats (minisign 0.11):

* public key: ``untrusted comment: ...`` then base64(``Ed`` + key id (8) + public key (32));
* secret key: base64 of sig alg ``Ed``, kdf alg (``\\0\\0`` = not encrypted), checksum alg
  ``B2``, salt (32), opslimit (8), memlimit (8), key id (8), secret key (seed + public, 64),
  checksum = BLAKE2b-256(sig alg + key id + secret key) (32);
* signature: untrusted comment, base64(``ED`` + key id + Ed25519(BLAKE2b-512(file))),
  ``trusted comment: ...``, base64(Ed25519(signature + trusted comment)) (the global
  signature, which is what makes the trusted comment trustworthy).

The legacy ``Ed`` signature (over the raw file) is refused unless explicitly allowed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vvtvlib.core.errors import SignatureError, UsageError
from vvtvlib.core.fsio import atomic_write

SIG_ALG = b"Ed"
PREHASHED = b"ED"
KDF_NONE = b"\x00\x00"
CHK_ALG = b"B2"
UNTRUSTED = "untrusted comment: "
TRUSTED = "trusted comment: "
_CHUNK = 1 << 20


def key_id_hex(key_id: bytes) -> str:
    """minisign prints key ids as the little-endian 64-bit number in upper-case hex."""
    return key_id[::-1].hex().upper()


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes
    key: bytes  # 32 raw bytes

    @property
    def id_hex(self) -> str:
        return key_id_hex(self.key_id)

    def to_base64(self) -> str:
        return base64.b64encode(SIG_ALG + self.key_id + self.key).decode()

    def file_text(self) -> str:
        return f"{UNTRUSTED}minisign public key {self.id_hex}\n{self.to_base64()}\n"

    def verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.key)


@dataclass(frozen=True)
class SecretKey:
    key_id: bytes
    seed: bytes  # 32 raw bytes
    path: str = ""

    @property
    def public(self) -> PublicKey:
        pk = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return PublicKey(self.key_id, pk.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


@dataclass(frozen=True)
class VerifiedSignature:
    key_id: str
    trusted_comment: str
    fields: dict[str, str] = field(default_factory=dict)
    prehashed: bool = True
    line: str = ""  # the base64 signature line that verified (a generation's signature)


# ---------------------------------------------------------------- keys


def _checksum(key_id: bytes, sk64: bytes) -> bytes:
    return hashlib.blake2b(SIG_ALG + key_id + sk64, digest_size=32).digest()


def secret_key_text(sk: SecretKey) -> str:
    sk64 = sk.seed + sk.public.key
    raw = (SIG_ALG + KDF_NONE + CHK_ALG + bytes(32) + bytes(8) + bytes(8)
           + sk.key_id + sk64 + _checksum(sk.key_id, sk64))
    # minisign writes this comment even for keys stored without a password.
    return f"{UNTRUSTED}minisign encrypted secret key\n{base64.b64encode(raw).decode()}\n"


def generate_keypair(secret_path: str | Path, comment: str | None = None,
                     *, overwrite: bool = False) -> PublicKey:
    """Write a new secret key (0600, minisign ``-W`` format) and ``<secret_path>.pub``."""
    secret_path = Path(secret_path)
    pub_path = secret_path.with_name(secret_path.name + ".pub")
    for p in (secret_path, pub_path):
        if p.exists() and not overwrite:
            raise UsageError(f"{p} already exists; refusing to overwrite a key", path=p)
    secret_path.parent.mkdir(parents=True, exist_ok=True)
    sk = SecretKey(secrets.token_bytes(8), Ed25519PrivateKey.generate().private_bytes_raw())
    text = secret_key_text(sk)
    if comment:
        text = f"{UNTRUSTED}{_one_line(comment)}\n" + text.split("\n", 1)[1]
    atomic_write(secret_path, text, mode=0o600)
    pub = sk.public
    pub_text = pub.file_text()
    if comment:
        pub_text = f"{UNTRUSTED}{_one_line(comment)}\n{pub.to_base64()}\n"
    atomic_write(pub_path, pub_text, mode=0o644)
    return pub


def _one_line(text: str) -> str:
    return " ".join(text.splitlines()).strip()


def _b64_line(text: str, path: Path, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{path}: {what} is not valid base64", path=path) from None


def _read_lines(path: Path, what: str) -> list[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SignatureError(f"{what} {path} does not exist", path=path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError(f"{path}: {what} is not UTF-8 text", path=path) from None
    return text.splitlines()


def parse_public_key(text: str, path: str | Path = "<public key>") -> PublicKey:
    """A ``.pub`` file's text, or a bare base64 key as minisign ``-P`` takes it."""
    path = Path(path)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].startswith(UNTRUSTED):
        lines = lines[1:]
    if len(lines) != 1:
        raise SignatureError(f"{path}: not a minisign public key (expected one base64 line)",
                             path=path)
    raw = _b64_line(lines[0], path, "public key")
    if len(raw) != 42 or raw[:2] != SIG_ALG:
        raise SignatureError(f"{path}: not an Ed25519 minisign public key", path=path)
    return PublicKey(raw[2:10], raw[10:])


def load_public_key(path: str | Path) -> PublicKey:
    path = Path(path)
    lines = _read_lines(path, "public key")
    return parse_public_key("\n".join(lines), path)


def load_public_keys(path: str | Path) -> list[PublicKey]:
    """One ``.pub`` file, or every ``*.pub`` in a folder (a trusted-keys folder)."""
    path = Path(path)
    if path.is_dir():
        keys = [load_public_key(p) for p in sorted(path.glob("*.pub"))]
        if not keys:
            raise SignatureError(f"{path}: no *.pub trusted keys in this folder", path=path)
        return keys
    return [load_public_key(path)]


def load_secret_key(path: str | Path) -> SecretKey:
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"secret key {path} does not exist", path=path) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SignatureError(f"secret key {path} is readable by group or others "
                             f"(mode {stat.S_IMODE(st.st_mode):04o}); run chmod 600 {path} first",
                             path=path)
    lines = [ln for ln in _read_lines(path, "secret key") if ln.strip()]
    if len(lines) != 2 or not lines[0].startswith(UNTRUSTED):
        raise SignatureError(f"{path}: not a minisign secret key", path=path)
    raw = _b64_line(lines[1], path, "secret key")
    if len(raw) != 158 or raw[:2] != SIG_ALG or raw[4:6] != CHK_ALG:
        raise SignatureError(f"{path}: not an Ed25519 minisign secret key", path=path)
    if raw[2:4] != KDF_NONE:
        raise UsageError(f"{path}: the secret key is password-protected; only keys stored "
                         "without a password are supported (minisign -G -W, or logline keygen)",
                         path=path)
    key_id, sk64, chk = raw[54:62], raw[62:126], raw[126:158]
    # minisign 0.11 leaves the checksum zeroed in keys stored without a password.
    if chk != bytes(32) and not hmac.compare_digest(chk, _checksum(key_id, sk64)):
        raise SignatureError(f"{path}: secret key checksum does not match (corrupted key)",
                             path=path)
    sk = SecretKey(key_id, sk64[:32], str(path))
    if sk.public.key != sk64[32:]:
        raise SignatureError(f"{path}: secret key is inconsistent with its public half", path=path)
    return sk


# ---------------------------------------------------------------- signatures


def blake2b_file(path: str | Path) -> bytes:
    h = hashlib.blake2b(digest_size=64)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.digest()


def format_trusted(fields: Mapping[str, str | int]) -> str:
    parts = []
    for k, v in fields.items():
        text = f"{k}:{v}"
        if any(c in text for c in "\t\n\r") or ":" in str(k):
            raise UsageError(f"trusted comment field {k!r} may not contain tabs, newlines or ':'"
                             " in its key")
        parts.append(text)
    return "\t".join(parts)


def parse_trusted(comment: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in comment.split("\t"):
        if ":" in part:
            k, v = part.split(":", 1)
            out[k] = v
    return out


def sign_file(secret: SecretKey | str | Path, in_path: str | Path, sig_path: str | Path,
              trusted: Mapping[str, str | int] | None = None,
              *, untrusted: str = "signature from minisign secret key") -> str:
    """Sign ``in_path`` (prehashed ``ED``); the trusted comment always starts with
    ``timestamp`` and ``file``. Returns the trusted comment."""
    sk = secret if isinstance(secret, SecretKey) else load_secret_key(secret)
    in_path = Path(in_path)
    fields: dict[str, str | int] = {"timestamp": int(time.time()), "file": in_path.name}
    fields.update(trusted or {})
    comment = format_trusted(fields)
    sig = sk.sign(blake2b_file(in_path))
    global_sig = sk.sign(sig + comment.encode())
    text = (f"{UNTRUSTED}{_one_line(untrusted)}\n"
            f"{base64.b64encode(PREHASHED + sk.key_id + sig).decode()}\n"
            f"{TRUSTED}{comment}\n{base64.b64encode(global_sig).decode()}\n")
    atomic_write(sig_path, text, mode=0o644)
    return comment


@dataclass(frozen=True)
class _SigFile:
    alg: bytes
    key_id: bytes
    sig: bytes
    trusted: str
    global_sig: bytes
    line: str


def _parse_sig(sig_path: Path) -> _SigFile:
    lines = _read_lines(sig_path, "signature file")
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != 4:
        raise SignatureError(f"{sig_path}: malformed signature file (expected 4 lines, "
                             f"found {len(lines)})", path=sig_path)
    if not lines[0].startswith(UNTRUSTED):
        raise SignatureError(f"{sig_path}: malformed signature file (no untrusted comment)",
                             path=sig_path)
    raw = _b64_line(lines[1], sig_path, "signature line")
    if len(raw) != 74 or raw[:2] not in (PREHASHED, SIG_ALG):
        raise SignatureError(f"{sig_path}: malformed signature (not an Ed25519 minisign "
                             "signature)", path=sig_path)
    if not lines[2].startswith(TRUSTED):
        raise SignatureError(f"{sig_path}: malformed signature file (no trusted comment)",
                             path=sig_path)
    gsig = _b64_line(lines[3], sig_path, "global signature")
    if len(gsig) != 64:
        raise SignatureError(f"{sig_path}: malformed global signature", path=sig_path)
    return _SigFile(raw[:2], raw[2:10], raw[10:], lines[2][len(TRUSTED):], gsig,
                    lines[1].strip())


def signature_line(sig_path: str | Path) -> str:
    """The base64 signature line of a signature file (a generation's ``ancestor_signature``)."""
    return _parse_sig(Path(sig_path)).line


def signature_key_id(sig_path: str | Path) -> str:
    return key_id_hex(_parse_sig(Path(sig_path)).key_id)


def verify_file(pubkeys: PublicKey | Iterable[PublicKey], in_path: str | Path,
                sig_path: str | Path, *, allow_legacy: bool = False) -> VerifiedSignature:
    """Check ``sig_path`` over ``in_path`` with one of the trusted ``pubkeys``; fail closed."""
    in_path = Path(in_path)

    def message(prehashed: bool) -> bytes:
        if not in_path.is_file():
            raise SignatureError(f"signed file {in_path} does not exist", path=in_path)
        return blake2b_file(in_path) if prehashed else in_path.read_bytes()

    return _verify(pubkeys, in_path, Path(sig_path), message, allow_legacy)


def verify_bytes(pubkeys: PublicKey | Iterable[PublicKey], data: bytes, sig_path: str | Path,
                 *, name: str | Path = "<data>", allow_legacy: bool = False,
                 ) -> VerifiedSignature:
    """Like ``verify_file`` over bytes already read, so what was checked is what is used."""
    def message(prehashed: bool) -> bytes:
        return hashlib.blake2b(data, digest_size=64).digest() if prehashed else data

    return _verify(pubkeys, Path(name), Path(sig_path), message, allow_legacy)


def _verify(pubkeys: PublicKey | Iterable[PublicKey], in_path: Path, sig_path: Path,
            message: Callable[[bool], bytes], allow_legacy: bool) -> VerifiedSignature:
    keys = [pubkeys] if isinstance(pubkeys, PublicKey) else list(pubkeys)
    parsed = _parse_sig(sig_path)
    key = next((k for k in keys if k.key_id == parsed.key_id), None)
    if key is None:
        trusted = ", ".join(k.id_hex for k in keys) or "none"
        raise SignatureError(f"{sig_path}: signed by unknown key {key_id_hex(parsed.key_id)} "
                             f"(trusted keys: {trusted})", path=sig_path,
                             expected=trusted, actual=key_id_hex(parsed.key_id))
    if parsed.alg == SIG_ALG and not allow_legacy:
        raise SignatureError(f"{sig_path}: legacy (non-prehashed) signature refused",
                             path=sig_path)
    verifier = key.verifier()
    try:
        verifier.verify(parsed.sig, message(parsed.alg == PREHASHED))
    except InvalidSignature:
        raise SignatureError(f"{in_path}: signature {sig_path.name} does not match the file "
                             "(file modified or wrong signature)", path=in_path) from None
    try:
        verifier.verify(parsed.global_sig, parsed.sig + parsed.trusted.encode())
    except InvalidSignature:
        raise SignatureError(f"{sig_path}: trusted comment does not match its global signature "
                             "(comment modified)", path=sig_path) from None
    return VerifiedSignature(key.id_hex, parsed.trusted, parse_trusted(parsed.trusted),
                             parsed.alg == PREHASHED, parsed.line)
