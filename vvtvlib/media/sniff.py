"""What a file is, read from its first bytes (never from its name).

The content gate and anything else that must decide whether to hand a file to a decoder
asks here: ``sniff(path)`` returns a ``Kind`` ("video" for containers FFmpeg can seek in,
"image" for stills) or ``None`` for anything else (databases, configs, random archive
filler). A renamed clip (``.MP4``, ``.bin``, no suffix) is still found, and bytes that only
carry a media suffix are not.

Signatures checked (offsets in bytes):

* ISO BMFF (MP4, MOV, M4V, 3GP): a box of type ``ftyp``/``moov``/``mdat``/``free``/
  ``wide``/``skip`` at 4, with a plausible box size at 0 (fragments, ``styp``/``moof``,
  are not standalone media and need their init segment);
* Matroska / WebM: EBML magic ``1A 45 DF A3`` at 0;
* MPEG-TS: sync byte ``0x47`` at every 188-byte packet start of the first 8 packets
  (M2TS: the same at 192-byte strides after a 4-byte prefix); random bytes pass this with
  probability 2^-64;
* MPEG-PS ``00 00 01 BA``, FLV ``FLV\\x01``, AVI ``RIFF....AVI ``;
* images: JPEG ``FF D8 FF``, PNG, GIF87a/89a, WebP ``RIFF....WEBP``, BMP ``BM``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["video", "image"]

HEAD_BYTES = 8 * 192 + 8  # enough for eight M2TS packets
_TS_PACKETS = 8
_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"}


@dataclass(frozen=True)
class Sniffed:
    kind: Kind
    format: str  # mp4 | matroska | mpegts | m2ts | mpegps | flv | avi | jpeg | png | ...


def _every(head: bytes, start: int, stride: int) -> bool:
    need = start + stride * (_TS_PACKETS - 1) + 1
    return len(head) >= need and all(head[start + i * stride] == 0x47
                                     for i in range(_TS_PACKETS))


def sniff_bytes(head: bytes) -> Sniffed | None:
    """Classify a file from its first ``HEAD_BYTES`` bytes."""
    if len(head) >= 12 and head[4:8] in _BMFF_BOXES:
        size = int.from_bytes(head[:4], "big")
        if size == 1 or size >= 8:  # 1: a 64-bit size follows
            return Sniffed("video", "mp4")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return Sniffed("video", "matroska")
    if _every(head, 0, 188):
        return Sniffed("video", "mpegts")
    if _every(head, 4, 192):
        return Sniffed("video", "m2ts")
    if head[:4] == b"\x00\x00\x01\xba":
        return Sniffed("video", "mpegps")
    if head[:4] == b"FLV\x01":
        return Sniffed("video", "flv")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("video", "avi")
    if head[:3] == b"\xff\xd8\xff":
        return Sniffed("image", "jpeg")
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return Sniffed("image", "png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "webp")
    if head[:2] == b"BM" and len(head) >= 26 and head[6:10] == b"\x00\x00\x00\x00":
        return Sniffed("image", "bmp")
    return None


def sniff(path: str | Path) -> Sniffed | None:
    """Classify the file at ``path`` by content; ``None`` for anything that is not media."""
    with open(path, "rb") as fh:
        return sniff_bytes(fh.read(HEAD_BYTES))
