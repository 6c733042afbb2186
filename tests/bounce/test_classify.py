"""Reasons and hard/soft from status, reply code and diagnostic text."""

from __future__ import annotations

import pytest

from bounce import Reason, classify, is_hard
from bounce.classify import STATUS_REASONS
from bounce.patterns import PATTERNS

CASES = [
    (
        "5.1.1",
        "550",
        "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown",
        Reason.USER_UNKNOWN,
    ),
    (
        "5.1.10",
        "550",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        Reason.USER_UNKNOWN,
    ),
    ("5.1.10", None, "Domain nullmx.example does not accept mail (nullMX)", Reason.NOT_ACCEPT),
    (
        "5.4.4",
        None,
        "Host or domain name not found. Name service error for name=x.example type=MX",
        Reason.HOST_UNKNOWN,
    ),
    ("5.0.0", "550", "550 5.2.2 <a@b.example>: Mailbox full", Reason.MAILBOX_FULL),
    ("5.1.1", "550", "550 5.1.1 mailbox is full", Reason.MAILBOX_FULL),
    (
        "5.3.4",
        "552",
        "552 5.3.4 Message size exceeds fixed maximum message size",
        Reason.MESG_TOO_BIG,
    ),
    (
        "5.7.1",
        "554",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        Reason.BLOCKED,
    ),
    (
        "5.7.1",
        "554",
        "554 5.7.1 Message rejected as spam by Content Filtering",
        Reason.SPAM_DETECTED,
    ),
    ("5.7.0", "554", "554 5.7.0 Reject, id=1 - INFECTED: Eicar-Signature", Reason.VIRUS_DETECTED),
    ("5.7.1", "554", "554 5.7.1 <a@b.example>: Relay access denied", Reason.NO_RELAYING),
    (
        "5.7.26",
        "550",
        "550 5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy",
        Reason.AUTH_FAILURE,
    ),
    (
        "5.7.25",
        "550",
        "550 5.7.25 The IP address sending this message does not have a PTR record setup",
        Reason.REQUIRE_PTR,
    ),
    ("5.7.0", "530", "530 5.7.0 Must issue a STARTTLS command first", Reason.FAILED_STARTTLS),
    (
        "5.2.1",
        "550",
        "550 5.2.1 The email account that you tried to reach is disabled.",
        Reason.SUSPEND,
    ),
    ("5.1.6", "551", "551 5.1.6 User not local; please try <new@example.org>", Reason.HAS_MOVED),
    ("4.7.1", "450", "450 4.7.1 Too many messages from this sender, slow down", Reason.SPEEDING),
    ("4.7.0", "421", "421 4.7.0 Error: too many connections from 192.0.2.1", Reason.TOO_MANY_CONN),
    (
        "5.6.0",
        "554",
        "554 5.6.0 Message contains invalid header or malformed MIME structure",
        Reason.CONTENT_ERROR,
    ),
    (
        "5.7.1",
        "550",
        "550 5.7.1 Recipient rejected: message quarantined by content policy",
        Reason.POLICY_VIOLATION,
    ),
    ("5.0.0", "550", "550 5.7.1 RCP-P2 Refused due to recipient preferences", Reason.FILTERED),
    ("5.1.7", "553", "553 5.1.7 Sender address rejected: Domain not found", Reason.REJECTED),
    ("4.4.7", None, "Message could not be delivered for 5 days", Reason.EXPIRED),
    ("5.0.0", None, "Command died with status 17: /usr/sbin/amavis", Reason.MAILER_ERROR),
    ("5.0.0", "554", "554 5.0.0 something nobody recognises", Reason.ON_HOLD),
    (None, None, "", Reason.UNDEFINED),
]


@pytest.mark.parametrize(("status", "code", "text", "reason"), CASES)
def test_reason(status: str | None, code: str | None, text: str, reason: Reason) -> None:
    assert classify(status=status, reply_code=code, diagnostic=text) is reason


def test_a_temporary_failure_the_mta_gave_up_on_is_expired() -> None:
    text = "connect to 192.0.2.1[192.0.2.1]:25: Connection refused"
    assert classify(status="4.4.1", reply_code=None, diagnostic=text) is Reason.EXPIRED
    assert classify(status="4.4.1", reply_code=None, diagnostic=text, action="delayed") is (
        Reason.NETWORK_ERROR
    )


def test_delayed_without_a_cause_is_expired() -> None:
    assert classify(status="4.0.0", reply_code=None, diagnostic="", action="delayed") is (
        Reason.EXPIRED
    )


@pytest.mark.parametrize(
    ("reason", "status", "code", "action", "hard"),
    [
        (Reason.USER_UNKNOWN, "5.1.1", "550", "failed", True),
        (Reason.HOST_UNKNOWN, "5.4.4", None, "failed", True),
        (Reason.HAS_MOVED, "5.1.6", "551", "failed", True),
        (Reason.NOT_ACCEPT, "5.1.10", "550", "failed", True),
        (Reason.NOT_ACCEPT, "4.1.10", "450", "failed", False),
        (Reason.USER_UNKNOWN, "4.1.1", "450", "delayed", False),
        (Reason.MAILBOX_FULL, "5.2.2", "552", "failed", False),  # soft even on a 5xx
        (Reason.BLOCKED, "5.7.1", "554", "failed", False),
        (Reason.SPAM_DETECTED, "5.7.1", "550", "failed", False),
        (Reason.VACATION, None, None, "", False),
        (Reason.FEEDBACK, None, None, "", False),
    ],
)
def test_hard_only_for_dead_addresses(
    reason: Reason, status: str | None, code: str | None, action: str, hard: bool
) -> None:
    assert is_hard(reason, status, code, action) is hard


def test_tables_use_the_vocabulary() -> None:
    assert {r for r, _, _ in PATTERNS} <= set(Reason)
    assert set(STATUS_REASONS.values()) <= set(Reason)
    assert {r.value for r in Reason} >= {"userunknown", "onhold", "badreputation", "vacation"}
