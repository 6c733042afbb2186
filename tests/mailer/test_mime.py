"""Tests for building MIME messages: structure, headers, encodings, determinism, injection."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from mailer.events import Address
from mailer.message import Attachment, RenderedEmail
from mailer.mime import build_message, make_message_id

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
MESSAGE_ID = "<0123456789abcdef@mail.example.com>"
DATE = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))


def rendered(**changes: Any) -> RenderedEmail:
    values: dict[str, Any] = {
        "subject": "Invoice INV-0042 from Müller & Söhne",
        "html": "<p>Dear Jürgen,</p>\n<p>please find invoice INV-0042 attached.</p>\n",
        "text": "Dear Jürgen,\n\nplease find invoice INV-0042 attached.\n",
        "attachments": (Attachment("Rechnung März.pdf", "application/pdf", PDF),),
    }
    return RenderedEmail(**(values | changes))


def build(email_content: RenderedEmail | None = None, **changes: Any) -> bytes:
    arguments: dict[str, Any] = {
        "sender": Address(email="billing@example.com", name='Müller & Söhne, "Buchhaltung"'),
        "reply_to": [Address(email="ar@example.com", name="Accounts Receivable")],
        "to": [Address(email="juergen@example.org", name="Jürgen Ärger")],
        "cc": [Address(email="boss@example.org", name="Boss, The"), Address(email="c@x.org")],
        "message_id": MESSAGE_ID,
        "date": DATE,
        "headers": {"X-Mailer-Ref": "acme/req-42"},
    }
    return build_message(email_content or rendered(), **(arguments | changes))


def parse(message: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def lines(message: bytes) -> list[bytes]:
    return message.split(b"\r\n")


# --- structure ---------------------------------------------------------------------------


def test_with_attachments_the_alternative_bodies_come_first_in_a_mixed_message() -> None:
    message = parse(build())

    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html = alternative.iter_parts()
    assert (plain.get_content_type(), plain.get_content_charset()) == ("text/plain", "utf-8")
    assert (html.get_content_type(), html.get_content_charset()) == ("text/html", "utf-8")
    assert plain.get_content().replace("\r\n", "\n") == rendered().text
    assert html.get_content().replace("\r\n", "\n") == rendered().html
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_filename() == "Rechnung März.pdf"
    assert attachment.get_content() == PDF


def test_without_attachments_the_message_is_multipart_alternative() -> None:
    message = parse(build(rendered(attachments=())))

    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]


def test_several_attachments_keep_their_order_names_and_bytes() -> None:
    attachments = (
        Attachment("a.pdf", "application/pdf", PDF),
        Attachment("notes.txt", "text/plain", "Zeile ü\n".encode()),
        Attachment("empty.bin", "application/octet-stream", b""),
    )
    message = parse(build(rendered(attachments=attachments)))

    found = [(part.get_filename(), part.get_payload(decode=True)) for part in message.walk()][4:]
    assert found == [(a.filename, a.data) for a in attachments]


@pytest.mark.parametrize(
    "filename",
    [
        "invoice.pdf",
        "Rechnung Nr. 5 \u2013 März 2024.pdf",
        "Facture n°42 — Société Générale d'Équipements, succursale de Paris-Ouest.pdf",
        'quote "x" \\ y.pdf',
        "=?utf-8?q?looks_encoded?=.pdf",
        "請求書.pdf",
    ],
)
def test_attachment_filenames_survive_rfc_2231_encoding(filename: str) -> None:
    attachment = Attachment(filename, "application/pdf", PDF)
    message = build(rendered(attachments=(attachment,)))

    (part,) = parse(message).iter_attachments()
    assert part.get_filename() == filename
    assert part.get_param("name") == filename
    assert all(len(line) <= 78 for line in lines(message.split(b"\r\n\r\n")[0]))


def test_an_invalid_attachment_content_type_is_refused() -> None:
    attachment = Attachment("a.pdf", "application/pdf\r\nBcc: x@evil.test", PDF)

    with pytest.raises(ValueError, match="content type"):
        build(rendered(attachments=(attachment,)))


def test_text_bodies_keep_trailing_spaces_long_lines_and_dots() -> None:
    text = "trailing   \nTabbed\t\n.\nFrom the start\n" + "x" * 2000 + "\n\n\nend"
    message = build(rendered(text=text, html="<p>" + "ü" * 1000 + "</p>"))

    alternative, _ = parse(message).iter_parts()
    plain, html = alternative.iter_parts()
    assert plain.get_content().replace("\r\n", "\n") == text
    assert html.get_content() == "<p>" + "ü" * 1000 + "</p>"


def test_empty_bodies_are_allowed() -> None:
    message = parse(build(rendered(text="", html="", attachments=())))

    assert [part.get_content() for part in message.iter_parts()] == ["", ""]


# --- headers -----------------------------------------------------------------------------


def test_headers_carry_the_addresses_subject_date_and_ids() -> None:
    message = parse(build())

    assert message["From"].addresses[0].display_name == 'Müller & Söhne, "Buchhaltung"'
    assert message["From"].addresses[0].addr_spec == "billing@example.com"
    assert str(message["Reply-To"]) == "Accounts Receivable <ar@example.com>"
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        ("Jürgen Ärger", "juergen@example.org")
    ]
    assert [(a.display_name, a.addr_spec) for a in message["Cc"].addresses] == [
        ("Boss, The", "boss@example.org"),
        ("", "c@x.org"),
    ]
    assert message["Subject"] == "Invoice INV-0042 from Müller & Söhne"
    assert parsedate_to_datetime(message["Date"]) == DATE
    assert message["Date"] == "Fri, 01 Mar 2024 09:30:00 +0100"
    assert message["Message-ID"] == MESSAGE_ID
    assert message["MIME-Version"] == "1.0"
    assert message["X-Mailer-Ref"] == "acme/req-42"


def test_reply_to_and_cc_are_left_out_when_absent_and_there_is_never_a_bcc() -> None:
    message = build(reply_to=[], cc=[])
    parsed = parse(message)

    assert "Reply-To" not in parsed
    assert "Cc" not in parsed
    assert "Bcc" not in parsed
    assert b"bcc" not in message.lower()


def test_non_ascii_headers_use_rfc_2047_and_the_message_is_7_bit() -> None:
    message = build()

    assert message.isascii()
    assert b"Subject: =?utf-8?b?" in message
    assert "Müller".encode() not in message


def test_international_domains_are_written_as_idna() -> None:
    message = parse(build(to=[Address(email="kunde@münchen.de", name="Kunde")]))

    assert message["To"].addresses[0].addr_spec == "kunde@xn--mnchen-3ya.de"


def test_a_non_ascii_local_part_is_refused_because_it_needs_smtputf8() -> None:
    # Intake refuses such addresses already; the builder refuses them too, on its own.
    with pytest.raises(ValueError, match="SMTPUTF8"):
        build(to=[Address.model_construct(email="jürgen@example.org", name=None)])


def test_a_long_address_list_is_folded_between_mailboxes() -> None:
    recipients = [
        Address(email=f"person{i}@example.org", name=f"Ärger, Person {i} «Abteilung {i}»")
        for i in range(20)
    ]
    message = build(to=recipients)

    parsed = parse(message)
    assert [a.addr_spec for a in parsed["To"].addresses] == [r.email for r in recipients]
    assert [a.display_name for a in parsed["To"].addresses] == [r.name for r in recipients]
    header_lines = lines(message.split(b"\r\n\r\n")[0])
    assert all(len(line) <= 78 for line in header_lines)


def test_a_long_subject_is_folded_and_unfolds_to_the_same_text() -> None:
    for subject in ["Reminder: " + "invoice INV-0042 is overdue " * 10, "Rappel : échéance " * 12]:
        message = build(rendered(subject=subject.strip()))
        assert parse(message)["Subject"] == subject.strip()
        assert all(len(line) <= 78 for line in lines(message.split(b"\r\n\r\n")[0]))


def test_a_subject_that_looks_like_an_encoded_word_stays_literal() -> None:
    subject = "=?utf-8?b?SGFja2Vk?= not decoded"

    assert parse(build(rendered(subject=subject)))["Subject"] == subject


def test_control_characters_in_header_text_become_spaces() -> None:
    subject = "Invoice\tINV-1\x0bdue\u2028now\x85!"

    assert parse(build(rendered(subject=subject)))["Subject"] == "Invoice INV-1 due now !"


def test_a_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        build(date=datetime(2024, 3, 1, 9, 30))


def test_utc_dates_are_written_with_a_numeric_zone() -> None:
    message = parse(build(date=datetime(2024, 3, 1, 9, 30, tzinfo=UTC)))

    assert message["Date"] == "Fri, 01 Mar 2024 09:30:00 +0000"


# --- injection ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\r\nBcc: evil@example.net", "a\nb", "a\rb", "a\x00b"])
def test_line_breaks_and_nul_in_any_header_value_raise(bad: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        build(rendered(subject=bad))
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        build(headers={"X-Mailer-Ref": bad})
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        build(to=[Address.model_construct(email="a@example.org", name=bad)])
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        build(sender=Address.model_construct(email=f"{bad}@example.org", name=None))
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        build(rendered(attachments=(Attachment(bad, "application/pdf", PDF),)))


@pytest.mark.parametrize(
    "name", ["X-Bad Name", "X-Bad:Name", "X-Bad\r\nBcc", "", "X-Ümlaut", "X-Bad\x00"]
)
def test_invalid_extra_header_names_raise(name: str) -> None:
    with pytest.raises(ValueError, match="header name"):
        build(headers={name: "value"})


@pytest.mark.parametrize(
    "name", ["Bcc", "from", "Subject", "Content-Type", "content-transfer-encoding", "MIME-Version"]
)
def test_extra_headers_cannot_replace_the_builders_own(name: str) -> None:
    with pytest.raises(ValueError, match="set by the message builder"):
        build(headers={name: "value"})


def test_other_content_headers_may_be_added() -> None:
    assert parse(build(headers={"Content-Language": "de-DE"}))["Content-Language"] == "de-DE"


@pytest.mark.parametrize("message_id", ["no-brackets@example.com", "<a b@c>", "<a@b>\r\nX: y"])
def test_a_malformed_message_id_raises(message_id: str) -> None:
    with pytest.raises(ValueError, match="message_id"):
        build(message_id=message_id)


# --- wire format and determinism ---------------------------------------------------------


def test_lines_end_in_crlf_and_stay_short() -> None:
    message = build(rendered(text="a\nb\rc\r\nd" + "é" * 3000, html="x" * 5000))

    assert message.endswith(b"\r\n")
    assert b"\n" not in message.replace(b"\r\n", b"")
    assert b"\r" not in message.replace(b"\r\n", b"")
    assert max(len(line) for line in lines(message)) <= 78


def test_the_same_inputs_give_the_same_bytes() -> None:
    assert build() == build()


def test_boundaries_come_from_the_message_id() -> None:
    first = parse(build())
    second = parse(build(message_id="<other@mail.example.com>"))

    assert first.get_boundary() != second.get_boundary()
    assert first.get_boundary() == parse(build()).get_boundary()


def test_make_message_id_is_stable_per_tenant_and_request() -> None:
    message_id = make_message_id("acme", "req-42", "mail.example.com")

    assert message_id == make_message_id("acme", "req-42", "mail.example.com")
    assert re.fullmatch(r"<[0-9a-f]{32}@mail\.example\.com>", message_id)
    assert message_id != make_message_id("acme", "req-43", "mail.example.com")
    assert message_id != make_message_id("acme2", "req-42", "mail.example.com")
    assert make_message_id("a", "bc", "x.org") != make_message_id("ab", "c", "x.org")


def test_make_message_id_refuses_a_domain_that_is_not_a_host_name() -> None:
    with pytest.raises(ValueError, match="host name"):
        make_message_id("acme", "req", "mail.example.com>\r\nBcc: x")
