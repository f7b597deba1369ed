"""The ``vvtv.manifest/1`` schema of ``last_manifest.json``: a pydantic model, a builder that
fills and validates it, and a loader whose errors name the file and the key.

Unknown top-level keys are kept (a newer writer may add some); the parts that verification
relies on (archives, files, artifacts) are strict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vvtvlib.core.clock import utc_iso
from vvtvlib.core.errors import IntegrityError, UnsafeArchive
from vvtvlib.core.evidence import canonical
from vvtvlib.core.fsio import atomic_write

from .manifest import normalise_path

SCHEMA = "vvtv.manifest/1"
HEX64 = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileModel(_Strict):
    path: str
    type: Literal["file", "dir", "symlink"]
    size: int = Field(ge=0)
    mode: str = Field(pattern=r"^[0-7]{4}$")
    sha256: str | None = Field(default=None, pattern=HEX64)
    target: str | None = None

    @field_validator("path")
    @classmethod
    def _safe(cls, v: str) -> str:
        try:
            norm = normalise_path(v)
        except UnsafeArchive as exc:
            raise ValueError(exc.message) from None
        if norm != v:
            raise ValueError(f"path {v!r} is not normalised (expected {norm!r})")
        return v


class ArchiveModel(_Strict):
    sha256: str = Field(pattern=HEX64)
    size: int = Field(ge=0)
    tree: str
    root_sha256: str = Field(pattern=HEX64)
    files: list[FileModel]
    roots: list[str] = Field(default_factory=list)
    level: int | None = None
    raw_bytes: int | None = None


class ArtifactModel(_Strict):
    sha256: str = Field(pattern=HEX64)
    size: int = Field(ge=0)


class TableDigest(_Strict):
    rows: int = Field(ge=0)
    sha256: str = Field(pattern=HEX64)


class DatabaseModel(_Strict):
    tables: dict[str, TableDigest]


class Versions(BaseModel):
    model_config = ConfigDict(extra="allow")
    vvtvlib: str | None = None
    python: str | None = None
    ffmpeg: str | None = None
    nginx: str | None = None
    sqlite: str | None = None


class Playout(BaseModel):
    model_config = ConfigDict(extra="allow")
    slot_id: str | None = None
    plan_id: str | None = None
    item_id: str | None = None
    offset_s: float | None = None


class FinalFrame(BaseModel):
    model_config = ConfigDict(extra="allow")
    file: str
    sha256: str = Field(pattern=HEX64)
    phash: str | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    schema_: Literal["vvtv.manifest/1"] = Field(alias="schema")
    station_id: str
    stamp: str
    created_utc: str
    generation: int = Field(ge=0)
    ancestor_signature: str | None = None
    profile: str = "embedded"
    dry_run: bool = False
    versions: Versions = Field(default_factory=Versions)
    selection_seeds: dict[str, Any] = Field(default_factory=dict)
    business_logic_sha256: str | None = None
    playout: Playout | None = None
    final_frame: FinalFrame | None = None
    databases: dict[str, DatabaseModel] = Field(default_factory=dict)
    archives: dict[str, ArchiveModel] = Field(default_factory=dict)
    artifacts: dict[str, ArtifactModel] = Field(default_factory=dict)

    @field_validator("archives", "artifacts")
    @classmethod
    def _plain_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if "/" in name or name in ("", ".", "..") or "\x00" in name:
                raise ValueError(f"{name!r} must be a plain file name in the snapshot folder")
        return v

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    return key, err["msg"]


def build_manifest(**fields: Any) -> Manifest:
    """Fill ``schema`` and ``created_utc`` and validate; ``to_dict()`` is what is written."""
    data = {"schema": SCHEMA, "created_utc": utc_iso(), **fields}
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise IntegrityError(f"manifest field {key}: {msg}", key=key) from None


def parse_manifest(data: bytes, path: str | Path = "<manifest>") -> Manifest:
    try:
        obj = json.loads(data)
    except UnicodeDecodeError:
        raise IntegrityError(f"{path}: manifest is not UTF-8", path=path) from None
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"{path}: manifest is not valid JSON (line {exc.lineno}: "
                             f"{exc.msg})", path=path) from None
    if not isinstance(obj, dict):
        raise IntegrityError(f"{path}: manifest is not a JSON object", path=path)
    if obj.get("schema") != SCHEMA:
        raise IntegrityError(f"{path}: schema is {obj.get('schema')!r}, expected {SCHEMA!r}",
                             path=path, expected=SCHEMA, actual=obj.get("schema"))
    try:
        return Manifest.model_validate(obj)
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise IntegrityError(f"{path}: manifest key {key}: {msg}", path=path, key=key) from None


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"manifest {path} does not exist", path=path) from None
    return parse_manifest(data, path)


def write_manifest(path: str | Path, manifest: dict[str, Any] | Manifest) -> bytes:
    """Write the canonical bytes atomically (and durably); returns them."""
    path = Path(path)
    data = manifest.to_dict() if isinstance(manifest, Manifest) else manifest
    raw = canonical(data) + b"\n"
    atomic_write(path, raw)
    return raw
