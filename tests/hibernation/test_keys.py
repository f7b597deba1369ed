"""Key expiry records, rotation with an endorsement signed by the old key."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from tests.plugins.system import need_tool
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import SignatureError
from vvtvlib.core.layout import StationLayout
from vvtvlib.hibernation import key_statuses, rotate_key, verify_endorsement, write_key_meta
from vvtvlib.vault.minisign import generate_keypair, load_public_key, sign_file, verify_file


@pytest.fixture
def keys(tmp_path: Path) -> tuple[StationLayout, FakeClock]:
    layout = StationLayout.at(tmp_path)
    layout.trusted_keys.mkdir(parents=True)
    clock = FakeClock()
    generate_keypair(layout.foundation_key)
    write_key_meta(layout, "foundation_ed25519", expires=clock.now() + timedelta(days=30),
                   created=clock.now() - timedelta(days=335), clock=clock)
    generate_keypair(layout.keys / "archive_ed25519")
    write_key_meta(layout, "archive_ed25519", expires=clock.now() + timedelta(days=300),
                   clock=clock)
    write_key_meta(layout, "vpn_node", kind="external", expires=clock.now() + timedelta(days=10),
                   clock=clock)
    generate_keypair(layout.keys / "legacy_ed25519")  # no record
    return layout, clock


def test_statuses_list_due_keys_and_keys_without_a_record(keys: tuple[StationLayout, FakeClock]
                                                          ) -> None:
    layout, clock = keys
    by = {k.key: k for k in key_statuses(layout, within_days=60, clock=clock)}
    assert by["foundation_ed25519"].due and round(by["foundation_ed25519"].days_left or 0) == 30
    assert not by["archive_ed25519"].due
    assert by["vpn_node"].due and by["vpn_node"].rotation == "manual"
    assert by["legacy_ed25519"].expires_utc is None and not by["legacy_ed25519"].due


def test_rotation_replaces_the_key_and_the_old_key_endorses_the_new(
        keys: tuple[StationLayout, FakeClock], tmp_path: Path) -> None:
    layout, clock = keys
    old_pub = load_public_key(layout.foundation_pub)
    doc = tmp_path / "doc.txt"
    doc.write_text("signed before rotation")
    sign_file(layout.foundation_key, doc, tmp_path / "doc.sig")
    rot = rotate_key(layout, "foundation_ed25519", clock=clock)
    new_pub = load_public_key(layout.foundation_pub)
    assert rot.old_key_id == old_pub.id_hex and rot.new_key_id == new_pub.id_hex != old_pub.id_hex
    assert verify_endorsement(rot.statement, old_pub) == new_pub
    with pytest.raises(SignatureError):
        verify_endorsement(rot.statement, new_pub)  # only the old key can endorse
    # both halves are pinned: old signatures still verify, new ones verify too
    trusted = [load_public_key(p) for p in layout.trusted_keys.glob("*.pub")]
    verify_file(trusted, doc, tmp_path / "doc.sig")
    sign_file(layout.foundation_key, doc, tmp_path / "doc2.sig")
    verify_file(trusted, doc, tmp_path / "doc2.sig")
    # the new record is a year from now again; the old key is retired, not deleted
    status = {k.key: k for k in key_statuses(layout, clock=clock)}["foundation_ed25519"]
    assert not status.due and round(status.days_left or 0) == 365
    assert (layout.keys / "retired" / f"foundation_ed25519.{rot.old_key_id}").exists()


@pytest.mark.system
def test_minisign_verifies_the_endorsement(keys: tuple[StationLayout, FakeClock]) -> None:
    minisign = need_tool("minisign")
    layout, clock = keys
    old_pub_file = layout.keys / "old.pub"
    old_pub_file.write_text(layout.foundation_pub.read_text())
    rot = rotate_key(layout, "foundation_ed25519", clock=clock)
    res = subprocess.run([minisign, "-V", "-p", str(old_pub_file), "-m", rot.statement,
                          "-x", rot.signature], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
