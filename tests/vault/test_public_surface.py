from __future__ import annotations

import vvtvlib.vault as vault


def test_public_surface_is_sorted_and_importable() -> None:
    assert vault.__all__ == sorted(vault.__all__)
    for name in vault.__all__:
        assert getattr(vault, name) is not None


def test_restore_module_exposes_the_folder_check() -> None:
    from vvtvlib.vault.restore import VerifiedSnapshot, verify_snapshot
    assert verify_snapshot is vault.verify_snapshot and VerifiedSnapshot is vault.VerifiedSnapshot
