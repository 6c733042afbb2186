"""Reading SMTP replies: enhanced status codes and retry hints."""

from __future__ import annotations

import pytest

from mailer.transport.smtp_replies import parse_enhanced_status, parse_retry_after


@pytest.mark.parametrize(
    ("text", "code", "expected"),
    [
        ("5.1.1 <bob@example.org>: Recipient address rejected", 550, "5.1.1"),
        ("4.7.0 Try later", 421, "4.7.0"),
        ("2.0.0 Ok: queued as 4Xy", 250, "2.0.0"),
        ("first line\n5.2.2 Mailbox full", 552, "5.2.2"),
        ("Mailbox full", 552, None),
        ("5.1.1 class does not match", 450, None),
        ("version 5.1.10.3 of something", 550, None),
        ("4.2.1 no code given", None, "4.2.1"),
    ],
)
def test_parse_enhanced_status(text: str, code: int | None, expected: str | None) -> None:
    assert parse_enhanced_status(text, code) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4.7.1 Greylisted, try again in 300 seconds", 300.0),
        ("Rate limited; retry after 120", 120.0),
        ("Please retry in 5 minutes", 300.0),
        ("Try again in 2 hours", 7200.0),
        ("try again in 30s", 30.0),
        ("Mailbox busy, try again later", None),
        ("retry after 12:30 UTC", None),
    ],
)
def test_parse_retry_after(text: str, expected: float | None) -> None:
    assert parse_retry_after(text) == expected
