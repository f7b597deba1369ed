"""HLS playlist parsing lives in :mod:`vvtvlib.media.hls`; re-exported for the station."""

from vvtvlib.media.hls import Playlist, Segment, inject_program_date_time, parse_playlist

__all__ = ["Playlist", "Segment", "inject_program_date_time", "parse_playlist"]
