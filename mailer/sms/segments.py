"""SMS encoding and length: GSM 03.38 (7-bit) or UCS-2, and how many segments a text takes."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_SEGMENTS",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SegmentCount",
    "SmsEncoding",
    "count_segments",
    "encoding_of",
]

# GSM 03.38 basic character set (ESC at 0x1B is not a character of its own).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these is sent as ESC + a septet, so it counts twice.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

DEFAULT_MAX_SEGMENTS = 6

_SINGLE = {"gsm-7": 160, "ucs-2": 70}
# A concatenated message gives 6 octets of each segment to the user data header.
_MULTI = {"gsm-7": 153, "ucs-2": 67}


class SmsEncoding(enum.StrEnum):
    """How the text travels: 7-bit GSM when every character allows it, else UCS-2 (UTF-16)."""

    GSM_7 = "gsm-7"
    UCS_2 = "ucs-2"


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """The encoding of a text, its length in that encoding's units, and its segment count."""

    encoding: SmsEncoding
    units: int
    segments: int

    @property
    def per_segment(self) -> int:
        """Units one segment holds at this message's length."""
        return (_SINGLE if self.segments <= 1 else _MULTI)[self.encoding.value]


def encoding_of(text: str) -> SmsEncoding:
    """GSM-7 when every character is in the basic or extension table, else UCS-2."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return SmsEncoding.GSM_7
    return SmsEncoding.UCS_2


def _unit_sizes(text: str, encoding: SmsEncoding) -> list[int]:
    """Size of each character in septets (GSM-7) or UTF-16 code units (UCS-2)."""
    if encoding is SmsEncoding.GSM_7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count_segments(text: str) -> SegmentCount:
    """How `text` is encoded and how many segments it takes (0 for the empty text).

    A long text is split into segments of 153 septets or 67 code units, and a character is
    never cut in two: an extension character's escape pair, or an emoji's surrogate pair,
    that would straddle a boundary starts the next segment instead.
    """
    encoding = encoding_of(text)
    sizes = _unit_sizes(text, encoding)
    units = sum(sizes)
    if units == 0:
        return SegmentCount(encoding, 0, 0)
    if units <= _SINGLE[encoding.value]:
        return SegmentCount(encoding, units, 1)
    capacity = _MULTI[encoding.value]
    segments, used = 1, 0
    for size in sizes:
        if used + size > capacity:
            segments, used = segments + 1, 0
        used += size
    return SegmentCount(encoding, units, segments)
