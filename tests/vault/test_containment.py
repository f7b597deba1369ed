"""Containment against an insider holding the signing key: every record here matches its
archive's bytes (as a compromised writer would sign it), and still nothing may land outside
the target, outside an archive's declared roots, or with a mode the manifest does not give;
an archive swapped after it was verified is caught while it is extracted."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
import zstandard as zstd

from vvtvlib.core.errors import IntegrityError, UnsafeArchive
from vvtvlib.vault import restore as vault_restore
from vvtvlib.vault import restore_archive, restore_archives, verify_archive
from vvtvlib.vault.members import Expected
from vvtvlib.vault.restore import extract_to_staging

from .test_adversarial import (
    BASE,
    Member,
    craft,
    fingerprint,
    listing,
    member,
)

DIRT = tarfile.DIRTYPE
LINK = tarfile.SYMTYPE


def _with_roots(record: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    return {**record, "roots": roots}


def _outside_untouched(tmp_path: Path, before: dict[str, Any]) -> None:
    assert fingerprint(tmp_path / "outside") == before
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path.parent / "evil.txt").exists()


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    root = tmp_path / "site" / "staging"
    root.mkdir(parents=True, mode=0o700)
    return root


# ------------------------------------------------------------------ links across archives


def test_member_through_a_link_of_another_archive_into_one_staging(tmp_path: Path,
                                                                   staging: Path) -> None:
    """Two archives extracted into one staging tree (as the revival does): the second may not
    write through a link the first created, whatever it points at."""
    first = tmp_path / "first.tar.zst"
    rec1 = _with_roots(craft(first, [member("system", kind=DIRT, mode=0o755),
                                     member("system/a", kind=LINK, link="."),
                                     member("system/b", kind=LINK, link="a/a/../..")]),
                       ["system"])
    second = tmp_path / "second.tar.zst"
    rec2 = _with_roots(craft(second, [member("system/b/evil.txt", b"planted")]), ["system/b"])
    with pytest.raises(UnsafeArchive, match=r"(first|second)\.tar\.zst: member system/b"):
        extract_to_staging(first, Expected.of(rec1, first.name), staging)
        extract_to_staging(second, Expected.of(rec2, second.name), staging)
    assert not (staging.parent / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_plain_member_through_a_link_of_another_archive(tmp_path: Path, staging: Path) -> None:
    """Even a link that stays inside may not be written through by a later archive."""
    first = tmp_path / "first.tar.zst"
    rec1 = _with_roots(craft(first, [member("system", kind=DIRT, mode=0o755),
                                     member("system/dir", kind=DIRT, mode=0o755),
                                     member("system/via", kind=LINK, link="dir")]),
                       ["system"])
    second = tmp_path / "second.tar.zst"
    rec2 = _with_roots(craft(second, [member("system/via/x.txt", b"through")]), ["system/via"])
    extract_to_staging(first, Expected.of(rec1, first.name), staging)
    with pytest.raises(UnsafeArchive, match=r"second\.tar\.zst: member system/via/x\.txt "
                                            r"goes through the symlink system/via"):
        extract_to_staging(second, Expected.of(rec2, second.name), staging)
    assert os.listdir(staging / "system" / "dir") == []


def test_link_through_a_link_of_another_archive(tmp_path: Path, target: Path) -> None:
    """B's link, lexically inside, resolves through A's ``a -> .`` to outside the target."""
    a = tmp_path / "a.tar.zst"
    rec_a = craft(a, [*BASE, member("storage/a", kind=LINK, link=".")])
    b = tmp_path / "b.tar.zst"
    rec_b = _with_roots(craft(b, [member("data", kind=DIRT, mode=0o755),
                                  member("data/b", kind=LINK, link="../storage/a/a/../../..")]),
                        ["data"])
    before, outside = fingerprint(target), fingerprint(tmp_path / "outside")
    with pytest.raises(UnsafeArchive, match=r"b\.tar\.zst: member data/b points through the "
                                            r"symlink storage/a \(a\.tar\.zst\)"):
        restore_archives([(a, rec_a), (b, rec_b)], target)
    assert fingerprint(target) == before
    _outside_untouched(tmp_path, outside)


# ------------------------------------------------------------------ chains inside one archive


@pytest.mark.parametrize(("links", "bad"), [
    ([("storage/a", "."), ("storage/b", "a/a/../..")], "storage/b"),
    ([("storage/ready/a", "."), ("storage/ready/b", "a/a/../../..")], "storage/ready/b"),
    ([("storage/ready/x", "../ready"), ("storage/ready/y", "x/../../..")], "storage/ready/y"),
])
def test_link_chain_resolving_outside_is_refused(links: list[tuple[str, str]], bad: str,
                                                 tmp_path: Path, target: Path) -> None:
    archive = tmp_path / "evil.tar.zst"
    record = craft(archive, BASE + [member(p, kind=LINK, link=t) for p, t in links])
    before, outside = fingerprint(target), fingerprint(tmp_path / "outside")
    with pytest.raises(UnsafeArchive, match=rf"evil\.tar\.zst: member {bad} points through "
                                            r"the symlink"):
        restore_archive(archive, record, target)
    assert fingerprint(target) == before
    _outside_untouched(tmp_path, outside)


def test_link_to_the_tree_root_or_above_a_root_is_refused(tmp_path: Path, target: Path) -> None:
    archive = tmp_path / "evil.tar.zst"
    record = craft(archive, BASE + [member("storage/up", kind=LINK, link="..")])
    before = fingerprint(target)
    with pytest.raises(UnsafeArchive, match=r"evil\.tar\.zst: member storage/up is a symlink "
                                            r"resolving outside the restored roots"):
        restore_archive(archive, record, target)
    assert fingerprint(target) == before


def test_links_that_stay_inside_still_restore(tmp_path: Path, target: Path) -> None:
    archive = tmp_path / "ok.tar.zst"
    record = craft(archive, BASE + [member("storage/ready/cur.mp4", kind=LINK, link="a.mp4"),
                                    member("storage/ready/again", kind=LINK, link="cur.mp4"),
                                    member("storage/up", kind=LINK, link="ready/../ready")])
    restore_archive(archive, record, target)
    assert (target / "storage" / "ready" / "again").read_bytes() == b"A" * 1000
    assert os.readlink(target / "storage" / "up") == "ready/../ready"


# ------------------------------------------------------------------ declared roots


def test_member_outside_its_archives_roots_is_refused(tmp_path: Path, target: Path) -> None:
    """A signed system archive may not plant a trusted key beside its own tree."""
    archive = tmp_path / "snapshot_system.tar.zst"
    members = [member("system", kind=DIRT, mode=0o755),
               member("system/station.toml", b"[station]\n"),
               member("vault", kind=DIRT, mode=0o755),
               member("vault/keys", kind=DIRT, mode=0o755),
               member("vault/keys/trusted", kind=DIRT, mode=0o755),
               member("vault/keys/trusted/evil.pub", b"untrusted comment: evil\nRWQ=\n")]
    record = _with_roots(craft(archive, members), ["system"])
    before = fingerprint(target)
    with pytest.raises(UnsafeArchive, match=r"snapshot_system\.tar\.zst: member "
                                            r"vault(/keys(/trusted(/evil\.pub)?)?)? is outside "
                                            r"the archive's roots \(system\)"):
        restore_archive(archive, record, target)
    assert fingerprint(target) == before
    assert not (target / "vault").exists()


def test_record_without_roots_is_refused(tmp_path: Path, target: Path) -> None:
    archive = tmp_path / "evil.tar.zst"
    record = _with_roots(craft(archive, BASE), [])
    with pytest.raises(UnsafeArchive, match=r"evil\.tar\.zst: the manifest declares no roots"):
        restore_archive(archive, record, target)


# ------------------------------------------------------------------ modes


@pytest.mark.parametrize(("path", "tar_mode", "signed"), [
    ("storage/ready/a.mp4", 0o777, "0644"),
    ("storage/ready", 0o777, "0755"),
])
def test_mode_differing_from_the_manifest_is_refused(path: str, tar_mode: int, signed: str,
                                                     tmp_path: Path, target: Path) -> None:
    members: list[Member] = [member(i.name, d, kind=i.type, mode=tar_mode if i.name == path
                                    else i.mode) for i, d in BASE]
    files = listing(members)
    for f in files:
        if f["path"] == path:
            f["mode"] = signed
    archive = tmp_path / "evil.tar.zst"
    record = craft(archive, members, files)
    before = fingerprint(target)
    with pytest.raises(IntegrityError, match=rf"evil\.tar\.zst: member {path} has mode "
                                             rf"{tar_mode:04o}, the manifest says {signed}"):
        restore_archive(archive, record, target)
    assert fingerprint(target) == before


def test_restored_modes_are_the_manifests(tmp_path: Path, target: Path) -> None:
    members = [member("storage", kind=DIRT, mode=0o750),
               member("storage/ready", kind=DIRT, mode=0o705),
               member("storage/ready/a.mp4", b"A", mode=0o640),
               member("storage/ready/run.sh", b"#!/bin/sh\n", mode=0o1755)]
    archive = tmp_path / "ok.tar.zst"
    record = craft(archive, members)
    old = os.umask(0o077)
    try:
        restore_archive(archive, record, target)
    finally:
        os.umask(old)
    for info, _ in members:
        assert os.lstat(target / info.name).st_mode & 0o7777 == info.mode, info.name


# ------------------------------------------------------------------ swapped after verify


def _recompress(path: Path, level: int, *, same_size: bool) -> None:
    original = path.read_bytes()
    raw = zstd.ZstdDecompressor().stream_reader(io.BytesIO(original)).read()
    other = zstd.ZstdCompressor(level=level, write_checksum=True).compress(raw)
    if same_size:  # padded with a skippable frame, which decompresses to nothing
        pad = len(original) - len(other) - 8
        assert pad >= 0
        other += b"\x50\x2a\x4d\x18" + pad.to_bytes(4, "little") + bytes(pad)
    assert other != original
    path.write_bytes(other)


@pytest.mark.parametrize("same_size", [False, True])
def test_archive_swapped_between_verify_and_extract(same_size: bool, tmp_path: Path,
                                                    staging: Path) -> None:
    """Same members, other bytes: every member still matches, the archive does not."""
    archive = tmp_path / "snapshot_data.tar.zst"
    record = craft(archive, [*BASE, member("storage/ready/b.mp4", b"B" * 5000)])
    exp = verify_archive(archive, record)
    _recompress(archive, 19, same_size=same_size)
    with pytest.raises(IntegrityError, match=r"snapshot_data\.tar\.zst: archive changed since "
                                             r"it was verified \((size|read \d+ bytes with "
                                             r"sha256 [0-9a-f]{64})"):
        extract_to_staging(archive, exp, staging)


# ------------------------------------------------------------------ the failing archive is named


def test_the_error_names_the_archive_that_failed(tmp_path: Path, target: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``good`` is still extracting when ``bad`` fails; the error is bad's, not good's
    'stopped because another archive failed'."""
    good = tmp_path / "good.tar.zst"
    rec_good = craft(good, [*BASE] + [member(f"storage/ready/f{i}.bin", b"x" * 10)
                                      for i in range(20)])
    bad = tmp_path / "bad.tar.zst"
    members = [member("data", kind=DIRT, mode=0o755), member("data/one.db", b"1"),
               member("data/two.db", b"2")]
    files = listing(members)
    files[2]["sha256"] = "3" * 64
    rec_bad = _with_roots(craft(bad, members, files), ["data"])
    bad_done = threading.Event()
    original = vault_restore.extract_to_staging

    def extract(path: Path, *args: Any, **kw: Any) -> Any:
        if path.name != "bad.tar.zst":
            return original(path, *args, **kw)
        try:
            return original(path, *args, **kw)
        finally:
            kw["abort"].set()  # what the caller does next, done here so the order is fixed
            bad_done.set()

    def observer(p: Any) -> None:
        if p.archive == "good.tar.zst":
            bad_done.wait(60)

    monkeypatch.setattr(vault_restore, "extract_to_staging", extract)
    before = fingerprint(target)
    with pytest.raises(IntegrityError) as err:
        restore_archives([(good, rec_good), (bad, rec_bad)], target, observer=observer,
                         workers=2)
    assert "bad.tar.zst" in str(err.value) and "good.tar.zst" not in str(err.value)
    assert "data/two.db has sha256" in str(err.value)
    assert fingerprint(target) == before
