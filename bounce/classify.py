"""Bounce reasons and hard/soft: from the enhanced status, the reply code and the diagnostic text.

The decision, per recipient:

1. A *strong* text pattern (see `bounce.patterns`) names the cause: it wins.
2. Else a specific enhanced status code (`STATUS_REASONS`; `x.0.0` and `5.7.1` say too little).
3. Else a *weak* text pattern (policy, network, system, ... wording).
4. Else the SMTP command the server rejected (MAIL FROM: the sender; HELO or the banner: us).
5. Else what the status class says: a 4xx the MTA gave up on is `expired`, an unexplained
   failure with diagnostic text is `onhold`, one without any is `undefined`.

A failure the reporting MTA gave up on after retrying (Action: failed with a 4.x.x status) is
`expired` unless a strong pattern names a cause. Only a dead address is `hard`: userunknown,
hostunknown, hasmoved, and notaccept on a permanent (5xx) failure; everything else is soft.
"""

from __future__ import annotations

import re

from bounce.model import Reason
from bounce.patterns import match_reason, normalize_text
from bounce.status import EnhancedStatus

HARD_REASONS = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.HAS_MOVED})

# subject.detail -> reason, the same for class 4 and 5 (RFC 3463 and the IANA registry).
STATUS_REASONS: dict[str, Reason] = {
    "1.0": Reason.USER_UNKNOWN,
    "1.1": Reason.USER_UNKNOWN,
    "1.2": Reason.HOST_UNKNOWN,
    "1.3": Reason.USER_UNKNOWN,
    "1.4": Reason.USER_UNKNOWN,
    "1.5": Reason.USER_UNKNOWN,
    "1.6": Reason.HAS_MOVED,
    "1.7": Reason.REJECTED,
    "1.8": Reason.REJECTED,
    "1.9": Reason.SYSTEM_ERROR,
    "1.10": Reason.NOT_ACCEPT,
    "2.1": Reason.SUSPEND,
    "2.2": Reason.MAILBOX_FULL,
    "2.3": Reason.EXCEED_LIMIT,
    "2.4": Reason.SYSTEM_ERROR,
    "3.1": Reason.SYSTEM_FULL,
    "3.2": Reason.SYSTEM_ERROR,
    "3.3": Reason.SYSTEM_ERROR,
    "3.4": Reason.MESG_TOO_BIG,
    "3.5": Reason.SYSTEM_ERROR,
    "4.1": Reason.NETWORK_ERROR,
    "4.2": Reason.NETWORK_ERROR,
    "4.3": Reason.NETWORK_ERROR,
    "4.4": Reason.HOST_UNKNOWN,
    "4.5": Reason.SYSTEM_FULL,
    "4.6": Reason.NETWORK_ERROR,
    "4.7": Reason.EXPIRED,
    "5.0": Reason.SYNTAX_ERROR,
    "5.1": Reason.SYNTAX_ERROR,
    "5.2": Reason.SYNTAX_ERROR,
    "5.3": Reason.EXCEED_LIMIT,
    "5.4": Reason.SYNTAX_ERROR,
    "5.5": Reason.SYNTAX_ERROR,
    "6.0": Reason.CONTENT_ERROR,
    "6.1": Reason.CONTENT_ERROR,
    "6.2": Reason.CONTENT_ERROR,
    "6.3": Reason.CONTENT_ERROR,
    "6.4": Reason.CONTENT_ERROR,
    "6.5": Reason.CONTENT_ERROR,
    "6.6": Reason.CONTENT_ERROR,
    "6.7": Reason.CONTENT_ERROR,
    "6.8": Reason.CONTENT_ERROR,
    "6.9": Reason.CONTENT_ERROR,
    "7.0": Reason.SECURITY_ERROR,
    "7.2": Reason.SECURITY_ERROR,
    "7.3": Reason.SECURITY_ERROR,
    "7.4": Reason.SECURITY_ERROR,
    "7.5": Reason.SECURITY_ERROR,
    "7.6": Reason.SECURITY_ERROR,
    "7.7": Reason.SECURITY_ERROR,
    "7.8": Reason.SECURITY_ERROR,
    "7.9": Reason.SECURITY_ERROR,
    "7.10": Reason.FAILED_STARTTLS,
    "7.11": Reason.FAILED_STARTTLS,
    "7.12": Reason.SECURITY_ERROR,
    "7.13": Reason.SUSPEND,
    "7.14": Reason.SECURITY_ERROR,
    "7.15": Reason.SECURITY_ERROR,
    "7.16": Reason.MESG_TOO_BIG,
    "7.17": Reason.HAS_MOVED,
    "7.18": Reason.HAS_MOVED,
    "7.19": Reason.SECURITY_ERROR,
    "7.20": Reason.AUTH_FAILURE,
    "7.21": Reason.AUTH_FAILURE,
    "7.22": Reason.AUTH_FAILURE,
    "7.23": Reason.AUTH_FAILURE,
    "7.24": Reason.AUTH_FAILURE,
    "7.25": Reason.REQUIRE_PTR,
    "7.26": Reason.AUTH_FAILURE,
    "7.27": Reason.NOT_ACCEPT,
    "7.28": Reason.SPEEDING,
    "7.29": Reason.AUTH_FAILURE,
    "7.30": Reason.FAILED_STARTTLS,
}

_MAIL_FROM = re.compile(
    r"in reply to mail from|after mail from|mail from:?<[^>]*>:? *\d|"
    r"in reply to mail command|reply to mail from"
)
_GREETING = re.compile(
    r"in reply to (?:helo|ehlo)|after (?:helo|ehlo)|after initial connection|"
    r"refused to talk to me|greeting|banner|after connect"
)


def reason_from_status(status: str | None) -> Reason | None:
    parsed = EnhancedStatus.parse(status)
    if parsed is None or parsed.klass == 2:
        return None
    return STATUS_REASONS.get(f"{parsed.subject}.{parsed.detail}")


def is_temporary(status: str | None, reply_code: str | None, action: str) -> bool:
    """A failure the MTA will retry (or did, and then gave up on: see `gave_up`)."""
    if action == "delayed":
        return True
    parsed = EnhancedStatus.parse(status)
    if parsed is not None and not parsed.is_generic:
        return parsed.is_transient
    if reply_code:
        return reply_code.startswith("4")
    return parsed is not None and parsed.is_transient


def classify(
    *,
    status: str | None,
    reply_code: str | None,
    diagnostic: str,
    action: str = "failed",
) -> Reason:
    """The reason for one recipient's failure (see the module docstring for the order)."""
    text = normalize_text(diagnostic)
    matched = match_reason(text)
    temporary = is_temporary(status, reply_code, action)
    gave_up = action == "failed" and temporary
    if matched and matched[1]:
        reason = matched[0]
        if gave_up and reason in (Reason.BLOCKED, Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN):
            return Reason.EXPIRED  # temporary refusals the MTA retried until it gave up
        return reason
    if gave_up:
        return Reason.EXPIRED
    by_status = reason_from_status(status)
    if by_status is not None:
        return by_status
    if matched:
        return matched[0]
    if _MAIL_FROM.search(text):
        return Reason.REJECTED
    if _GREETING.search(text):
        return Reason.BLOCKED
    if action == "delayed":
        return Reason.EXPIRED
    return Reason.ON_HOLD if text else Reason.UNDEFINED


def is_hard(reason: Reason, status: str | None, reply_code: str | None, action: str) -> bool:
    """True only when the address itself is dead; notaccept counts only on a 5xx."""
    if action == "delayed":
        return False
    if reason in HARD_REASONS:
        return not is_temporary(status, reply_code, action)
    if reason is Reason.NOT_ACCEPT:
        return not is_temporary(status, reply_code, action)
    return False
