"""``vvtvctl ops bundle``: a diagnostic ``tar.zst`` an operator can hand over.

Inside: ``status.json`` (``ops status``), ``metrics.prom`` (a scrape of the station's
``/metrics`` when it is up), the scope's logs and configs (tails of at most
``MAX_BYTES``), the recent audit (flags, API requests), and ``MANIFEST.sha256`` (one
``sha256  path`` line per member). Next to the archive, ``<name>.sha256`` holds the
archive's own digest.

Every member is redacted before it is written: values of keys that name a secret
(``secret``, ``token``, ``password``, ``key``, ``signature``, ``hmac``, ``authorization``...),
bearer tokens, JWTs, PEM and minisign secret blocks, and the literal contents of the
station's secret files (control token, keys, tenant secrets), wherever they appear. Secret
files themselves are never collected.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import zstandard

from vvtvlib.core.clock import SYSTEM_CLOCK, Clock, stamp
from vvtvlib.core.errors import UsageError
from vvtvlib.core.fsio import atomic_write
from vvtvlib.core.layout import StationLayout

SCOPES = ("streaming", "pool", "api", "all")
MAX_BYTES = 512 * 1024
REDACTED = "[redacted]"

_SECRET_WORDS = (r"secret|token|passw(?:or)?d|passphrase|private|api[_-]?key|hmac|signature"
                 r"|authorization|credential|cookie|(?<![a-z])key(?![a-z])")
# key = value (TOML, INI, env), "key": "value" (JSON), key: value (YAML, headers)
_KV = re.compile(r"""(?ix)
    (?P<k>["']?[\w.-]*(?:""" + _SECRET_WORDS + r""")[\w.-]*["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<v>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,}\]]+)""")
_BEARER = re.compile(r"(?i)\b(bearer|basic|hmac)\s+[A-Za-z0-9._~+/=:-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
                  re.S)
_MINISIGN_SECRET = re.compile(r"untrusted comment: minisign encrypted secret key\n[^\n]*")
_SECRET_FILE = re.compile(r"(?i)(secret|token|private|\.key$|_ed25519$|\.pem$|passw)")
# names of keys whose values are fine to keep (not secrets, useful for diagnosis)
_KEEP = {"key_id", "keyid", "public_key", "pubkey", "token_bucket", "tokens_in",
         "tokens_out", "max_tokens", "tokens_per_minute", "cache_key"}


@dataclass
class BundleResult:
    path: str
    sha256: str
    scope: str
    members: list[str]
    redactions: int
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Redactor:
    def __init__(self, literals: Iterable[str] = ()) -> None:
        # longest first, so a secret containing another is replaced whole
        self.literals = sorted({s for s in literals if len(s) >= 8}, key=len, reverse=True)
        self.count = 0

    def _kv(self, m: re.Match[str]) -> str:
        key = m.group("k").strip("\"'").lower()
        if key in _KEEP or key.endswith(("_id", "_at", "_utc", "_ms", "_s", "_count")):
            return m.group(0)
        value = m.group("v")
        if value.lower() in ("true", "false", "null", "none", '""', "''") or \
                re.fullmatch(r"-?\d+(\.\d+)?", value):
            return m.group(0)
        self.count += 1
        quote = value[0] if value[:1] in "\"'" else ""
        return f"{m.group('k')}{m.group('sep')}{quote}{REDACTED}{quote}"

    def _sub(self, pattern: re.Pattern[str], repl: str, text: str) -> str:
        text, n = pattern.subn(repl, text)
        self.count += n
        return text

    def text(self, text: str) -> str:
        for lit in self.literals:
            if lit in text:
                self.count += text.count(lit)
                text = text.replace(lit, REDACTED)
        text = self._sub(_PEM, REDACTED, text)
        text = self._sub(_MINISIGN_SECRET, REDACTED, text)
        text = self._sub(_JWT, REDACTED, text)
        text = self._sub_bearer(text)
        return _KV.sub(self._kv, text)

    def _sub_bearer(self, text: str) -> str:
        text, n = _BEARER.subn(lambda m: f"{m.group(1)} {REDACTED}", text)
        self.count += n
        return text


def secret_literals(root: Path) -> list[str]:
    """The contents of the root's secret files (small files whose name says secret)."""
    found: list[str] = []
    for base in (root / "system", root / "vault" / "keys", root / "api", root / "pool"):
        if not base.is_dir():
            continue
        for p in base.rglob("*"):
            if not p.is_file() or not _SECRET_FILE.search(p.name) or p.suffix == ".pub":
                continue
            try:
                if p.stat().st_size > 16384:
                    continue
                text = p.read_text(errors="replace")
            except OSError:
                continue
            found.append(text.strip())
            found += [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 16]
    return found


def _tenant_secrets(root: Path) -> list[str]:
    """Tenant secrets kept in data/tenants.sqlite (whatever column names a secret)."""
    import sqlite3

    db = root / "data" / "tenants.sqlite"
    if not db.exists():
        return []
    out: list[str] = []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                cols = [r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")]
                for col in cols:
                    if re.search(_SECRET_WORDS, col, re.I):
                        out += [str(v) for (v,) in conn.execute(
                            f"SELECT \"{col}\" FROM '{table}'") if v]
        finally:
            conn.close()
    except sqlite3.Error:
        pass
    return out


def _sources(lay: StationLayout, scope: str) -> list[Path]:
    root = lay.root
    streaming = [lay.logs / "streaming.jsonl", lay.logs / "supervisor.jsonl",
                 lay.logs / "curator_vigilante.jsonl", lay.logs / "autopilot.jsonl",
                 *sorted(lay.configs.glob("*.toml")), *sorted(lay.configs.glob("*.template")),
                 lay.configs / "features.audit.jsonl"]
    pool = [root / "pool" / "providers.toml", root / "pool" / "state.toml",
            root / "pool" / "health.json", *sorted((root / "logs").glob("pool*.jsonl"))]
    api = [root / "api" / "configs" / "api.toml", *sorted((root / "logs").glob("api_*.log")),
           root / "logs" / "audit" / "api_requests.jsonl",
           *sorted((root / "api" / "run").glob("*.json"))]
    common = [lay.configs / "features.toml", lay.configs / "features.audit.jsonl"]
    chosen = {"streaming": streaming, "pool": pool, "api": api,
              "all": streaming + pool + api}[scope]
    seen: list[Path] = []
    for p in common + chosen:
        if p.is_file() and p not in seen and not _SECRET_FILE.search(p.name):
            seen.append(p)
    return seen


def _tail(path: Path) -> bytes:
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size > MAX_BYTES:
            fh.seek(size - MAX_BYTES)
            fh.readline()  # start on a whole line
        return fh.read()


def _metrics(lay: StationLayout) -> str | None:
    from vvtvlib.station.metrics import metrics_url

    try:
        resp = httpx.get(metrics_url(lay), timeout=3)
        return resp.text if resp.status_code == 200 else None
    except Exception:  # noqa: BLE001 - a station that is down has no metrics to bundle
        return None


def make_bundle(root: str | Path | None, scope: str, *, status: dict[str, Any],
                out: Path | None = None, clock: Clock = SYSTEM_CLOCK) -> BundleResult:
    if scope not in SCOPES:
        raise UsageError(f"--scope is one of {', '.join(SCOPES)}, not {scope!r}", actual=scope)
    lay = StationLayout.at(root)
    red = Redactor(secret_literals(lay.root) + _tenant_secrets(lay.root))
    members: dict[str, bytes] = {}
    members["status.json"] = red.text(json.dumps(status, indent=2, default=str)).encode()
    if scope in ("streaming", "all"):
        m = _metrics(lay)
        if m is not None:
            members["metrics.prom"] = m.encode()
    for p in _sources(lay, scope):
        rel = str(p.relative_to(lay.root))
        members[rel] = red.text(_tail(p).decode("utf-8", errors="replace")).encode()
    manifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                       for name, data in sorted(members.items()))
    members["MANIFEST.sha256"] = manifest.encode()
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(f"bundle/{name}")
            info.size, info.mtime, info.mode = len(data), int(now), 0o600
            tar.addfile(info, io.BytesIO(data))
    blob = zstandard.ZstdCompressor(level=10).compress(buf.getvalue())
    dest = out or (lay.logs / "bundles" / f"bundle-{scope}-{stamp(clock.now())}.tar.zst")
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, blob, mode=0o600)
    digest = hashlib.sha256(blob).hexdigest()
    atomic_write(dest.with_name(dest.name + ".sha256"), f"{digest}  {dest.name}\n")
    return BundleResult(str(dest), digest, scope, sorted(members), red.count, len(blob))


def read_bundle(path: Path) -> dict[str, bytes]:
    """The members of a bundle (tests and the drill read it back)."""
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(path.read_bytes())).read()
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m)
            if f is not None:
                out[m.name.removeprefix("bundle/")] = f.read()
    return out


