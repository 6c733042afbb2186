"""MIME properties: header values from any event data serialize and parse back, no injection."""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections.abc import Callable
from email.header import decode_header

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailer import mime
from mailer.events import Address
from tests.mailer.test_mime import build, lines, parse, rendered

# --- properties --------------------------------------------------------------------------

HEADER_TEXT = st.text(
    st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]), max_size=256
)


def as_header_text(value: str, *, collapse: bool = False) -> str:
    """What the builder promises: controls become spaces, edges trimmed, names collapsed."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in value)
    if collapse:
        text = re.sub(" +", " ", text)
    return text.strip(" ")


_TOKEN = re.compile(
    r'(?P<word>=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)|(?P<quoted>"(?:[^"\\]|\\.)*")'
    r"|(?P<addr><[^>]*>)|(?P<comma>,)|(?P<space>[ \t]+)|(?P<atom>[^ \t\",<]+)"
)


def mailboxes(header_value: str) -> list[tuple[str, str]]:
    """(display name, address) per RFC 5322 and RFC 2047, for the mailboxes written here.

    The standard library's parser puts a space between adjacent encoded words in a display
    name (RFC 2047 6.2 says to drop it), so long non-ASCII names are decoded here instead.
    """
    found: list[tuple[str, str]] = []
    words: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(re.sub(r"\r\n(?=[ \t])", "", header_value)):
        kind, token = match.lastgroup or "", match.group()
        if kind == "addr":
            found.append((_phrase_text(words), token[1:-1]))
            words = []
        elif kind == "comma" and words:
            found.append(("", "".join(text for _, text in words).strip()))
            words = []
        elif kind != "comma":
            words.append((kind, token))
    if words:
        found.append(("", "".join(text for _, text in words).strip()))
    return found


def _phrase_text(words: list[tuple[str, str]]) -> str:
    text, previous = "", ""
    for kind, token in words:
        if kind == "space":
            text += " "
        elif kind == "word":
            text = text.removesuffix(" ") if previous == "word" else text
            ((data, charset),) = decode_header(token)
            assert isinstance(data, bytes) and charset is not None
            text += data.decode(charset)
        elif kind == "quoted":
            text += re.sub(r"\\(.)", r"\1", token[1:-1])
        else:
            text += token
        previous = kind if kind != "space" else previous
    return text.strip(" ")


def raw_header(message: bytes, name: str) -> str:
    head = message.split(b"\r\n\r\n")[0].decode("ascii")
    match = re.search(rf"^{name}:(.*?)\r\n(?! )", head + "\r\n", re.MULTILINE | re.DOTALL)
    assert match is not None
    return match.group(1)


@settings(max_examples=300, deadline=None)
@given(
    sender_name=HEADER_TEXT,
    to_names=st.lists(HEADER_TEXT, min_size=1, max_size=4),
    subject=HEADER_TEXT,
)
def test_any_names_and_subject_round_trip_without_injection(
    sender_name: str, to_names: list[str], subject: str
) -> None:
    to = [Address(email=f"rcpt{i}@example.org", name=name) for i, name in enumerate(to_names)]
    sender = Address(email="billing@example.com", name=sender_name)
    message = build(rendered(subject=subject, attachments=()), sender=sender, to=to, cc=[])

    parsed = parse(message)
    assert parsed.keys() == [
        "From",
        "Reply-To",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "X-Mailer-Ref",
        "MIME-Version",
        "Content-Type",
    ]
    assert parsed["Subject"] == as_header_text(subject)
    assert [a.addr_spec for a in parsed["To"].addresses] == [a.email for a in to]
    assert [a.addr_spec for a in parsed["From"].addresses] == ["billing@example.com"]
    assert mailboxes(raw_header(message, "From")) == [
        (as_header_text(sender_name, collapse=True), "billing@example.com")
    ]
    assert mailboxes(raw_header(message, "To")) == [
        (as_header_text(name, collapse=True), f"rcpt{i}@example.org")
        for i, name in enumerate(to_names)
    ]
    assert message.isascii()
    assert max(len(line) for line in lines(message)) <= 998


def test_exactly_unicode_controls_and_separators_become_spaces() -> None:
    every = "".join(
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) != "Cs" and chr(code) not in "\r\n\x00"
    )

    assert mime._header_text(f"x{every}x") == as_header_text(f"x{every}x")


@settings(max_examples=300, deadline=None)
@example(name="Subject", value="ab " * 22 + "abc")  # 78 characters: fits
@example(name="Subject", value="ab " * 23 + "a")  # 79 characters: folded
@given(
    name=st.sampled_from(["Subject", "Content-Type", "X-Mailer-Ref"]),
    value=st.text(st.sampled_from("ab \t"), max_size=200),
)
def test_folding_keeps_the_value_and_breaks_only_before_spaces(name: str, value: str) -> None:
    folded = mime._fold(name, value)

    assert folded.replace("\r\n", "") == f"{name}:" + f" {value}".rstrip(" ")
    for line in folded.split("\r\n"):
        assert len(line) <= 78 or " " not in line.lstrip(" ")


# --- the mailbox fast path ---------------------------------------------------------------

_ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
_SPECIALS = ' ."(),:;<>@[]\\\t\r\n\x00\x7fé€\u2028'
ATOMS = st.text(st.sampled_from(_ATEXT), min_size=1, max_size=10)
PLAIN_EMAILS = st.builds(
    lambda local, domain: f"{'.'.join(local)}@{'.'.join(domain)}",
    st.lists(ATOMS, min_size=1, max_size=3),
    st.lists(ATOMS, min_size=1, max_size=3),
)
PLAIN_NAMES = st.lists(ATOMS, max_size=4).map(" ".join)


def one_more_character(plain: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Plain text with one special, non-ASCII or control character put in somewhere."""

    def insert(text: str, character: str, at: int) -> str:
        return text[:at] + character + text[at:]

    return st.builds(insert, plain, st.sampled_from(_SPECIALS), st.integers(0, 40))


EMAILS = st.one_of(
    PLAIN_EMAILS,
    one_more_character(PLAIN_EMAILS),
    st.emails(),
    st.sampled_from(
        ["kunde@münchen.de", '"a b"@example.org', "a..b@example.org", "a@[192.0.2.1]", "a@b@c"]
    ),
    st.text(max_size=30),
)
NAMES = st.one_of(
    PLAIN_NAMES,
    one_more_character(PLAIN_NAMES),
    st.sampled_from(["=?utf-8?b?SGk=?=", "a" * 901, "Müller, Söhne", 'O"Brien (HQ)', "a\\b"]),
    HEADER_TEXT,
    st.text(max_size=30),
)


def outcome(format_mailbox: Callable[[str, str], str], email: str, name: str) -> tuple[str, str]:
    """The header value, or the error: both paths must fail alike, whatever the error."""
    try:
        return "value", format_mailbox(email, name)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=1000, deadline=None)
@example(email="a@example.org", name="a" * 900)
@example(email="a@example.org", name="a" * 901)  # too long for one line: encoded words
@example(email="a@example.org", name="=?utf-8?b?SGk=?=")  # would read as an encoded word
@example(email="a@example.org", name="a  b")
@example(email="a@example.org", name=" a")
@example(email="a.@example.org", name="a")
@example(email="a@example.org.", name="a")
@given(email=EMAILS, name=NAMES)
def test_the_mailbox_fast_path_writes_what_the_email_library_path_writes(
    email: str, name: str
) -> None:
    fast = outcome(mime._mailbox_value, email, name)

    assert fast == outcome(mime._parsed_mailbox.__wrapped__, email, name)
    kind, value = fast
    if kind == "value":
        assert value.isascii()
        assert not any(character in value for character in "\r\n\x00")


def test_plain_mailboxes_do_not_go_through_the_email_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(email: str, name: str) -> str:
        raise AssertionError(f"parsed {name!r} <{email}>")

    monkeypatch.setattr(mime, "_parsed_mailbox", refuse)

    message = build(
        sender=Address(email="billing@example.com", name="Acme Bookkeeping"),
        reply_to=[Address(email="reply+t0k3n@bounces.example.com")],
        to=[Address(email="o'brien.j@example.org", name="J O'Brien")],
        cc=[],
    )
    assert b"From: Acme Bookkeeping <billing@example.com>\r\n" in message
    assert b"To: J O'Brien <o'brien.j@example.org>\r\n" in message
