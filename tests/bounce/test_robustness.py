"""parse_bounce never raises: malformed MIME, charsets, line ends, 8-bit headers, truncation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bounce import BounceKind, ParsedBounce, parse_bounce

DATA = Path(__file__).parent / "data"
SAMPLES = [
    "postfix-multi.eml",
    "exim-multi.eml",
    "office365-recipient-not-found.eml",
    "flufl-qmail_01.eml",
    "arf-abuse-hotmail.eml",
    "autoreply-de-abwesend.eml",
]


def _ok(result: ParsedBounce) -> None:
    assert isinstance(result, ParsedBounce)
    assert isinstance(result.kind, BounceKind)
    for recipient in result.recipients:
        assert "@" in recipient.address
        recipient.to_dict()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n",
        b"\r\n\r\n",
        b"\x00" * 64,
        bytes(range(256)) * 4,
        b"From: \n\n",
        b"Content-Type: multipart/report\n\n--",
    ],
)
def test_degenerate_input(raw: bytes) -> None:
    result = parse_bounce(raw)
    _ok(result)
    assert not result.is_bounce


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_line_ends_do_not_change_the_result(name: str, ending: bytes) -> None:
    raw = (DATA / name).read_bytes()
    expected = parse_bounce(raw)
    converted = parse_bounce(raw.replace(b"\n", ending))
    assert [r.address for r in converted.recipients] == [r.address for r in expected.recipients]
    assert [r.reason for r in converted.recipients] == [r.reason for r in expected.recipients]
    assert converted.kind is expected.kind


@pytest.mark.parametrize("name", SAMPLES)
def test_truncated_at_every_step(name: str) -> None:
    raw = (DATA / name).read_bytes()
    step = max(1, len(raw) // 150)
    for end in range(0, len(raw), step):
        _ok(parse_bounce(raw[:end]))


MALFORMED = [
    # boundary never closed, parts missing their headers
    b'From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; boundary="zz"\n\n--zz\n'
    b"Final-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 5.1.1\n",
    # unknown and wrong charsets, bad base64, bad quoted-printable
    b"From: postmaster@x.example\nSubject: Undeliverable\n"
    b"Content-Type: text/plain; charset=x-klingon\n"
    b"Content-Transfer-Encoding: base64\n\n!!!notbase64@@@\n",
    b"From: postmaster@x.example\nSubject: failure notice\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: quoted-printable\n\n<a@b.example>:\n=ZZ=\nuser unknown=\n",
    b"From: postmaster@x.example\nSubject: failure notice\n"
    b"Content-Type: text/plain; charset=utf-16\n\n"
    b"\xff\xfe<\x00a\x00@\x00",
    # 8-bit and broken encoded-word headers
    b"From: \xc3\xa9\xff <mailer-daemon@x.example>\nSubject: =?utf-8?B?!!!?= \xe9chec\n"
    b"To: =?x-unknown?Q?bounces+abcd1234?= <bounces+abcd1234@x.example>\n\n"
    b"<a@b.example>: 550 5.1.1 user unknown\n",
    # a delivery-status part that is base64, and nested message/rfc822 loops
    b'From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; boundary="b"\n\n--b\n'
    b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
    b"RmluYWwtUmVjaXBpZW50OiByZmM4MjI7IGFAYi5leGFtcGxlCkFjdGlvbjogZmFpbGVkClN0YXR1czogNS4xLjEK\n"
    b"--b--\n",
    b"Content-Type: message/rfc822\n\n" * 300 + b"Subject: deep\n\nbody\n",
    b'Content-Type: multipart/mixed; boundary="a"\n\n'
    + b'--a\nContent-Type: multipart/mixed; boundary="a"\n\n' * 200,
    b"Subject: " + b"x" * 200_000 + b"\n\n" + b"<a@b.example>: " * 20_000,
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_mime(raw: bytes) -> None:
    _ok(parse_bounce(raw))


def test_eight_bit_header_is_still_read() -> None:
    result = parse_bounce(MALFORMED[4])
    assert result.verp_token == "abcd1234"
    assert [r.address for r in result.recipients] == ["a@b.example"]


def test_base64_delivery_status_is_decoded() -> None:
    (recipient,) = parse_bounce(MALFORMED[5]).recipients
    assert (recipient.address, recipient.status, recipient.hard) == ("a@b.example", "5.1.1", True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes(raw: bytes) -> None:
    _ok(parse_bounce(raw))


def _mutate(raw: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(raw)
    for position, length, insert in edits:
        at = position % (len(data) + 1)
        data[at : at + length] = insert
    return bytes(data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(st.integers(0, 20_000), st.integers(0, 64), st.binary(max_size=32)), max_size=8
    ),
)
def test_mutated_samples(name: str, edits: list[tuple[int, int, bytes]]) -> None:
    _ok(parse_bounce(_mutate((DATA / name).read_bytes(), edits)))
