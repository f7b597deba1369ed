from __future__ import annotations

from vvtvlib.media.hls import inject_program_date_time, parse_playlist

TEXT = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-TARGETDURATION:2
#EXTINF:2.000,
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z
seg_7.ts
#EXT-X-DISCONTINUITY
#EXTINF:1.5,
seg_8.ts
"""


def test_parse_numbers_segments_from_the_media_sequence() -> None:
    pl = parse_playlist(TEXT)
    assert pl.media_sequence == 7 and pl.target_duration == 2 and not pl.ended
    assert [(s.sequence, s.uri, s.duration) for s in pl.segments] == [(7, "seg_7.ts", 2.0),
                                                                       (8, "seg_8.ts", 1.5)]
    assert pl.segments[0].program_date_time == "2026-01-01T00:00:00.000Z"
    assert pl.segments[1].discontinuity and not pl.segments[0].discontinuity


def test_inject_adds_missing_program_date_times_only() -> None:
    out = inject_program_date_time(TEXT, {"seg_7.ts": "X", "seg_8.ts": "2026-01-01T00:00:02Z"})
    assert out.count("#EXT-X-PROGRAM-DATE-TIME") == 2
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02Z\nseg_8.ts" in out
    assert "X\n" not in out
    assert parse_playlist(out).segments[1].program_date_time == "2026-01-01T00:00:02Z"
