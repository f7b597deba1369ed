from __future__ import annotations

import sqlite3
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.plugins.station import LabStation
from vvtvlib.core.errors import UsageError
from vvtvlib.station.config import load_station_config
from vvtvlib.station.control import status
from vvtvlib.station.provision import init_station
from vvtvlib.station.schema import ALL_DBS
from vvtvlib.vault.minisign import load_public_key, load_secret_key


@pytest.fixture
def lab(station_factory: Callable[..., LabStation]) -> LabStation:
    return station_factory(up=False, size_mb=1)


def test_tree_configs_and_keys(lab: LabStation) -> None:
    root = lab.root
    for tree in ("broadcast/hls", "storage/ready", "storage/cache", "storage/tmp", "data",
                 "system/bin", "system/logs", "system/configs", "vault/keys/trusted",
                 "vault/snapshots", "vault/history", "monitor/captures"):
        assert (root / tree).is_dir(), tree
    key = lab.layout.foundation_key
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load_secret_key(key).public == load_public_key(lab.layout.foundation_pub)
    trusted = lab.layout.trusted_keys / "foundation_ed25519.pub"
    assert trusted.read_bytes() == lab.layout.foundation_pub.read_bytes()
    ritual = tomllib.loads((lab.layout.configs / "ritual.toml").read_text())
    assert ritual["prechecks"] == {"queue_min_buffer_s": 3600, "encoder_stable_s": 60,
                                   "disk_free_min_pct": 15, "cpu_temp_max_c": 80}
    assert ritual["freeze"]["wait_empty_timeout_s"] == 600
    assert (lab.layout.configs / "business_logic.toml").exists()
    cfg = load_station_config(lab.layout)
    assert cfg.station.id == lab.info.station_id and cfg.station.profile == "embedded"
    assert lab.info.filler_bytes == 1 << 20


def test_databases_are_wal_intact_and_realistic(lab: LabStation) -> None:
    for name in ALL_DBS:
        conn = sqlite3.connect(lab.layout.db(name))
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            indexes = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='index' "
                                   "AND sql IS NOT NULL").fetchone()[0]
            assert name == "control" or indexes >= 1
        finally:
            conn.close()
    conn = sqlite3.connect(lab.layout.db("queue"))
    total, entries = conn.execute("SELECT SUM(duration_s), COUNT(*) FROM queue "
                                  "WHERE status='queued'").fetchone()
    conn.close()
    assert total >= 3600 and entries == lab.info.queue_entries
    conn = sqlite3.connect(lab.layout.db("plans"))
    items = conn.execute("SELECT item_id, path, sha256 FROM items").fetchall()
    conn.close()
    assert tuple(i[0] for i in items) == lab.info.items
    for _, path, _sha in items:
        assert (lab.root / path).stat().st_size > 10_000


def test_status_of_a_station_that_is_down(lab: LabStation) -> None:
    st = status(lab.layout)
    assert not st.up and not st.encoder_running and st.hls_url is None
    assert st.queue_buffer_s >= 3600
    assert st.paused == {"planner": False, "realizer": False, "discovery": False}
    assert st.resume and st.resume["queue_position"] == 1


def test_init_refuses_a_non_empty_root_unless_forced(tmp_path: Path, clip_cache: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not empty"):
        init_station(root, items=2, clip_seconds=20, clip_cache=clip_cache)
    assert not (root / "data").exists()
    first = init_station(root, items=2, clip_seconds=20, clip_cache=clip_cache, force=True)
    second = init_station(root, items=2, clip_seconds=20, clip_cache=clip_cache, force=True)
    assert first.station_id != second.station_id
    assert (root / "notes.txt").read_text() == "keep me"
    with pytest.raises(UsageError, match="profile"):
        init_station(tmp_path / "x", profile="icecast")
