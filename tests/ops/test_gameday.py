"""Game days: the pieces (the end-to-end encoder restart is ``features/o_gamedays.feature``)."""

from __future__ import annotations

from vvtvlib.ops.gamedays import longest_above


def test_longest_stretch_above_a_threshold() -> None:
    pts = [(0, 5), (1, 11), (2, 12), (3, 13), (4, 4), (5, 11), (6, 2)]
    assert longest_above(pts, 10) == 2
    assert longest_above(pts, 20) == 0
