"""Pure HLS media-playlist parsing and rewriting (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Segment:
    sequence: int
    uri: str
    duration: float
    program_date_time: str | None = None
    discontinuity: bool = False


@dataclass
class Playlist:
    target_duration: float | None = None
    media_sequence: int = 0
    ended: bool = False
    segments: list[Segment] = field(default_factory=list)


def parse_playlist(text: str) -> Playlist:
    """Parse a media playlist; unknown tags are ignored."""
    pl = Playlist()
    duration: float | None = None
    pdt: str | None = None
    disc = False
    seq: int | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXT-X-TARGETDURATION:"):
            pl.target_duration = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            pl.media_sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = line.split(":", 1)[1]
        elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith(
                "#EXT-X-DISCONTINUITY-SEQUENCE"):
            disc = True
        elif line.startswith("#EXT-X-ENDLIST"):
            pl.ended = True
        elif not line.startswith("#"):
            seq = pl.media_sequence if seq is None else seq + 1
            pl.segments.append(Segment(seq, line, duration or 0.0, pdt, disc))
            duration, pdt, disc = None, None, False
    return pl


def inject_program_date_time(text: str, times: dict[str, str]) -> str:
    """Add ``#EXT-X-PROGRAM-DATE-TIME`` before each segment URI found in ``times``.

    Used for the nginx-rtmp profile, whose HLS writer does not emit the tag: the supervisor
    knows when each fragment started and serves the playlist with it.
    """
    out: list[str] = []
    has_pdt = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME"):
            has_pdt = True
        if line and not line.startswith("#") and not has_pdt and line in times:
            out.append(f"#EXT-X-PROGRAM-DATE-TIME:{times[line]}")
        if line and not line.startswith("#"):
            has_pdt = False
        out.append(raw)
    return "\n".join(out) + "\n"
