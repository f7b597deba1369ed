"""Sanity: databases sound and equal to what the ritual recorded, versions compared, encoder
preset adapted to this node's FFmpeg.

Database equality is the RPO proof: every table the manifest describes must have the same
row count and ordered-row digest after restore (nothing lost, nothing extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tomli_w

from vvtvlib.core.errors import IntegrityError
from vvtvlib.core.layout import StationLayout
from vvtvlib.station.encoder import encoder_settings_path, load_encoder_settings
from vvtvlib.vault.schema import Manifest
from vvtvlib.vault.sqlite import foreign_key_check, integrity_check, table_digests

from .presets import Adaptation, EncoderCaps, adapt_encoder


@dataclass(frozen=True)
class DatabaseCheck:
    """A restored database that passed ``integrity_check`` and ``foreign_key_check`` and,
    when the manifest describes it, equals it table by table."""

    tables_equal: int | None = None  # None: the manifest does not describe this database
    rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"integrity_check": "ok", "foreign_key_check": "ok"}
        if self.tables_equal is not None:
            out["tables_equal"] = self.tables_equal
            out["rows"] = self.rows
        return out


def check_databases(layout: StationLayout, manifest: Manifest) -> dict[str, DatabaseCheck]:
    """Every restored ``data/*.sqlite`` is sound and equal to what the manifest recorded;
    the first difference raises ``IntegrityError``."""
    out: dict[str, DatabaseCheck] = {}
    dbs = sorted(layout.data.glob("*.sqlite"))
    if not dbs:
        raise IntegrityError(f"no databases were restored into {layout.data}", path=layout.data)
    for db in dbs:
        problems = integrity_check(db)
        if problems:
            raise IntegrityError(f"{db.name}: integrity_check failed: {problems[0]}", path=db,
                                 expected="ok", actual=problems[:5])
        fks = foreign_key_check(db)
        if fks:
            raise IntegrityError(f"{db.name}: foreign_key_check found {len(fks)} violation(s), "
                                 f"first in table {fks[0]['table']}", path=db,
                                 expected=[], actual=fks[:5])
        entry = DatabaseCheck()
        recorded = manifest.databases.get(db.name)
        if recorded is not None:
            digests = table_digests(db)
            for table, want in recorded.tables.items():
                got = digests.get(table)
                if got is None or got.sha256 != want.sha256 or got.rows != want.rows:
                    raise IntegrityError(
                        f"{db.name}: table {table} differs from the manifest "
                        f"({want.rows} rows recorded, {got.rows if got else 0} restored)",
                        path=db, expected=want.sha256, actual=got.sha256 if got else None,
                        table=table)
            entry = DatabaseCheck(len(recorded.tables),
                                  sum(t.rows for t in recorded.tables.values()))
        out[db.name] = entry
    return out


def compare_versions(recorded: dict[str, Any], node: dict[str, Any]
                     ) -> list[tuple[str, str, Any, Any]]:
    """(what, message, recorded, found) for every tool whose version differs."""
    from .presets import same_version

    out = []
    for tool in ("vvtvlib", "python", "sqlite", "ffmpeg", "nginx"):
        want, have = recorded.get(tool), node.get(tool)
        if want is None:
            continue
        if have is None:
            out.append((f"version:{tool}", f"{tool} {want} was recorded; it is not installed "
                        "on this node", want, None))
        elif not same_version(str(want), str(have)):
            out.append((f"version:{tool}", f"{tool} differs: recorded {want}, this node has "
                        f"{have}", want, have))
    return out


def node_caps() -> EncoderCaps:
    from vvtvlib.media.ffmpeg import ffmpeg_capabilities, ffmpeg_version

    return EncoderCaps(ffmpeg_version(), frozenset(ffmpeg_capabilities()["encoders"]))


def adapt_encoder_preset(layout: StationLayout, recorded_ffmpeg: str | None,
                         caps: EncoderCaps | None = None) -> Adaptation:
    """Adapt and, when anything changed, write ``system/configs/encoder.toml`` with the
    settings this node's broadcaster encodes with (and what they were adapted from)."""
    caps = caps or node_caps()
    settings = load_encoder_settings(layout)
    adaptation = adapt_encoder(settings.as_dict(), recorded_ffmpeg, caps)
    if adaptation.changed:
        body = {"encoder": adaptation.settings,
                "adapted": {"recorded_ffmpeg": recorded_ffmpeg or "", "node_ffmpeg":
                            caps.version or "", "changed": [c.key for c in adaptation.changes]}}
        path = encoder_settings_path(layout)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Written by logline revive: encoder settings adapted to this "
                        "node's FFmpeg.\n" + tomli_w.dumps(body), encoding="utf-8")
    return adaptation
