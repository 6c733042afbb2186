"""Values a parsed bounce is made of: kinds, reasons, recipients and the parse result."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BounceKind(StrEnum):
    """What a returned message is."""

    DSN = "dsn"  # a delivery status notification, standard (RFC 3464) or not
    FEEDBACK = "feedback"  # an ARF abuse/complaint report (RFC 5965)
    AUTOREPLY = "autoreply"  # an automatic reply, out of office (RFC 3834)
    OTHER = "other"  # anything else: a human reply, spam, garbage


class Reason(StrEnum):
    """Why a recipient bounced (the vocabulary of the bounce classifier)."""

    USER_UNKNOWN = "userunknown"
    HOST_UNKNOWN = "hostunknown"
    HAS_MOVED = "hasmoved"
    NOT_ACCEPT = "notaccept"
    MAILBOX_FULL = "mailboxfull"
    EXCEED_LIMIT = "exceedlimit"
    MESG_TOO_BIG = "mesgtoobig"
    FILTERED = "filtered"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    SPAM_DETECTED = "spamdetected"
    VIRUS_DETECTED = "virusdetected"
    POLICY_VIOLATION = "policyviolation"
    SECURITY_ERROR = "securityerror"
    AUTH_FAILURE = "authfailure"
    NO_RELAYING = "norelaying"
    REQUIRE_PTR = "requireptr"
    NOT_COMPLIANT_RFC = "notcompliantrfc"
    CONTENT_ERROR = "contenterror"
    EXPIRED = "expired"
    NETWORK_ERROR = "networkerror"
    SYSTEM_ERROR = "systemerror"
    SYSTEM_FULL = "systemfull"
    TOO_MANY_CONN = "toomanyconn"
    SPEEDING = "speeding"
    SUSPEND = "suspend"
    SYNTAX_ERROR = "syntaxerror"
    MAILER_ERROR = "mailererror"
    ON_HOLD = "onhold"
    FAILED_STARTTLS = "failedstarttls"
    BAD_REPUTATION = "badreputation"
    UNDEFINED = "undefined"
    FEEDBACK = "feedback"  # not a bounce: a complaint
    VACATION = "vacation"  # not a bounce: an auto-reply


@dataclass(frozen=True, slots=True)
class BouncedRecipient:
    """One recipient a bounce (or report, or auto-reply) is about."""

    address: str
    reason: Reason
    hard: bool  # the address itself is dead: stop sending to it
    action: str  # RFC 3464 Action: failed, delayed (or vacation/feedback for non-bounces)
    status: str | None = None  # RFC 3463 enhanced status, e.g. "5.1.1"
    reply_code: str | None = None  # SMTP reply code, e.g. "550"
    diagnostic: str = ""  # what the remote server or the reporting MTA said
    remote_mta: str | None = None
    original_recipient: str | None = None  # RFC 3464 Original-Recipient, if any

    def to_dict(self) -> dict[str, object]:
        return {
            "address": self.address,
            "status": self.status,
            "reply_code": self.reply_code,
            "action": self.action,
            "reason": self.reason.value,
            "hard": self.hard,
            "diagnostic": self.diagnostic,
        }


@dataclass(frozen=True, slots=True)
class ParsedBounce:
    """Everything `parse_bounce` learnt from one returned message."""

    kind: BounceKind
    is_bounce: bool
    recipients: tuple[BouncedRecipient, ...] = ()
    original_message_id: str | None = None  # Message-ID of the message that bounced
    original_ref: str | None = None  # its X-Mailer-Ref header (our VERP token)
    verp_token: str | None = None  # token of a bounces+<token>@ address the bounce was sent to
    reporting_mta: str | None = None
    feedback_type: str | None = None  # ARF Feedback-Type (abuse, fraud, ...)
    detector: str = ""  # which reader found the recipients: dsn, postfix, exim, ...
    defects: tuple[str, ...] = field(default=())  # what was wrong with the input, if anything

    @property
    def hard_recipients(self) -> tuple[BouncedRecipient, ...]:
        return tuple(r for r in self.recipients if r.hard)

    def to_dict(self) -> dict[str, object]:
        return {
            "is_bounce": self.is_bounce,
            "kind": self.kind.value,
            "recipients": [r.to_dict() for r in self.recipients],
            "original_message_id": self.original_message_id,
            "original_ref": self.original_ref,
            "verp_token": self.verp_token,
        }
