"""RFC 3464 reader and RFC 3463 status codes."""

from __future__ import annotations

from bounce import EnhancedStatus, parse_bounce, parse_delivery_status
from bounce.status import find_reply_code, find_status

REPORT = """\
Reporting-MTA: dns; mx.example.net
Original-Envelope-Id: 0a1b2c
Arrival-Date: Tue, 12 Mar 2024 09:14:03 +0000

Final-Recipient: rfc822; Jane@Example.COM
Original-Recipient: rfc822;jane@example.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.1.1 <jane@example.com>: Recipient address
    rejected: User unknown in virtual mailbox table
Last-Attempt-Date: Tue, 12 Mar 2024 09:14:05 +0000

Final-Recipient: rfc822; bob@example.org
Action: delayed
Status: 4.4.1
Will-Retry-Until: Sat, 16 Mar 2024 09:14:03 +0000
"""


def test_per_message_and_per_recipient_fields() -> None:
    report = parse_delivery_status(REPORT)
    assert report.reporting_mta == "mx.example.net"
    assert report.original_envelope_id == "0a1b2c"
    first, second = report.recipients
    assert first.final_recipient == "jane@example.com"
    assert first.original_recipient == "jane@example.com"
    assert (first.action, first.status, first.diagnostic_type) == ("failed", "5.1.1", "smtp")
    assert first.diagnostic_code.endswith("User unknown in virtual mailbox table")  # unfolded
    assert first.remote_mta == "mx.example.com"
    assert (second.action, second.status) == ("delayed", "4.4.1")
    assert second.will_retry_until


def test_blocks_without_blank_lines_are_split_on_final_recipient() -> None:
    text = (
        "Final-Recipient: rfc822;a@x.example\nAction: failed\nStatus: 5.0.0\n"
        "Final-Recipient: rfc822;b@x.example\nAction: failed\nStatus: 5.2.2\n"
    )
    assert [r.final_recipient for r in parse_delivery_status(text).recipients] == [
        "a@x.example",
        "b@x.example",
    ]


def test_original_recipient_wins_over_an_internal_final_one() -> None:
    text = (
        "Final-Recipient: rfc822;userx@sims-ms-daemon\n"
        "Original-Recipient: rfc822;userx@example.com\n"
        "Action: failed\nStatus: 5.0.0\n"
    )
    assert parse_delivery_status(text).recipients[0].final_recipient == "userx@example.com"


def test_garbage_gives_no_recipients() -> None:
    assert parse_delivery_status("Hello\n\nworld: yes\n\x00\x01").recipients == ()


def test_enhanced_status() -> None:
    status = EnhancedStatus.parse("5.1.10")
    assert status is not None and str(status) == "5.1.10"
    assert status.is_permanent and not status.is_transient and not status.is_generic
    assert status.describe() == "Recipient address has null MX"
    assert EnhancedStatus.parse("4.0.0").is_generic  # type: ignore[union-attr]
    assert EnhancedStatus.parse("6.1.1") is None
    assert EnhancedStatus.parse("not a code") is None


def test_status_and_code_in_text() -> None:
    assert find_status("host said: 550 5.1.1 <a@b.example>: unknown") == "5.1.1"
    assert find_status("Sorry, no mailbox here by that name. (#5.1.1)") == "5.1.1"
    assert find_status("connect to 192.5.1.1 failed") is None  # part of an IP address
    assert find_reply_code("host said: 550 5.1.1 <a@b.example>: unknown") == "550"
    assert find_reply_code("Remote Server returned '554 5.2.2 mailbox full'") == "554"
    assert find_reply_code("250 2.0.0 Ok") is None  # success is not a failure code


def _dsn(status: str, diagnostic: str, action: str = "failed") -> bytes:
    return f"""\
From: MAILER-DAEMON@mx.example.net
To: bounces+ab12cd34ef@mail.acme.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

The mail system

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; jane@example.com
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--b
Content-Type: text/rfc822-headers

Message-ID: <m1@mailer.acme.example>
X-Mailer-Ref: ab12cd34ef
To: jane@example.com

--b--
""".encode()


def test_generic_status_yields_to_the_remote_servers_own() -> None:
    result = parse_bounce(_dsn("5.0.0", "550 5.2.2 <jane@example.com>: Mailbox full"))
    (recipient,) = result.recipients
    assert (recipient.status, recipient.reply_code, recipient.reason.value) == (
        "5.2.2",
        "550",
        "mailboxfull",
    )
    assert not recipient.hard


def test_refs_and_verp_token() -> None:
    result = parse_bounce(_dsn("5.1.1", "550 5.1.1 user unknown"))
    assert result.original_message_id == "<m1@mailer.acme.example>"
    assert result.original_ref == "ab12cd34ef"
    assert result.verp_token == "ab12cd34ef"
    assert result.recipients[0].hard


def test_success_only_report_is_not_a_bounce() -> None:
    result = parse_bounce(_dsn("2.0.0", "250 2.0.0 Ok", action="delivered"))
    assert result.kind.value == "dsn" and not result.is_bounce and result.recipients == ()


def test_delayed_is_never_hard() -> None:
    (recipient,) = parse_bounce(_dsn("4.1.1", "450 4.1.1 unverified address", "delayed")).recipients
    assert recipient.action == "delayed" and not recipient.hard
