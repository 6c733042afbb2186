"""GSM-7 or UCS-2, and segment counts at the exact boundaries."""

from __future__ import annotations

import pytest

from mailer.sms.segments import (
    GSM7_EXTENSION,
    SegmentCount,
    SmsEncoding,
    count_segments,
    encoding_of,
)

GSM, UCS = SmsEncoding.GSM_7, SmsEncoding.UCS_2


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Plain ASCII, with digits 0-9 and @!?", GSM),
        ("Danish æøå ÆØÅ, German äöüß, Spanish ñ ¿¡, é è à", GSM),
        ("Extension chars {}[]~|^\\€", GSM),
        ("Greek capitals ΔΦΓΛΩΠΨΣΘΞ", GSM),
        ("Romanian ș ț ă", UCS),
        ("French ç (lower case is not in the basic table)", UCS),
        ("an emoji 😀", UCS),
        ("a backtick `", UCS),
        ("no-break\u00a0space", UCS),
        ("", GSM),
    ],
)
def test_encoding_detection(text: str, encoding: SmsEncoding) -> None:
    assert encoding_of(text) is encoding


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_boundaries(length: int, segments: int) -> None:
    assert count_segments("a" * length) == SegmentCount(GSM, length, segments)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries(length: int, segments: int) -> None:
    assert count_segments("ț" * length) == SegmentCount(UCS, length, segments)


def test_extension_characters_count_twice() -> None:
    assert count_segments("€" * 80) == SegmentCount(GSM, 160, 1)
    assert count_segments("€" * 80 + "a") == SegmentCount(GSM, 161, 2)
    assert {ch: count_segments(ch).units for ch in GSM7_EXTENSION} == dict.fromkeys(
        GSM7_EXTENSION, 2
    )


def test_an_escape_pair_is_never_split_across_segments() -> None:
    # 152 septets, then a 2-septet euro sign: it cannot end segment one, so it starts segment
    # two; 153 + 153 more would fit in two segments by arithmetic alone, but not in practice.
    text = "a" * 152 + "€" + "a" * 152
    count = count_segments(text)
    assert count.units == 306 and count.segments == 3


def test_emoji_are_surrogate_pairs() -> None:
    assert count_segments("😀" * 35) == SegmentCount(UCS, 70, 1)
    assert count_segments("😀" * 35 + "a") == SegmentCount(UCS, 71, 2)
    assert count_segments("a" + "😀" * 34) == SegmentCount(UCS, 69, 1)


def test_a_surrogate_pair_is_never_split_across_segments() -> None:
    text = "a" * 66 + "😀" * 34  # 134 code units: 2 segments by arithmetic, 3 on the air
    assert count_segments(text) == SegmentCount(UCS, 134, 3)


def test_one_non_gsm_character_turns_the_whole_text_to_ucs2() -> None:
    assert count_segments("a" * 100).segments == 1
    assert count_segments("a" * 99 + "ș").segments == 2


def test_empty_text_takes_no_segment() -> None:
    assert count_segments("") == SegmentCount(GSM, 0, 0)
