"""RFC 3463 enhanced status codes and SMTP reply codes: finding them in text, and what they mean."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Not preceded by a digit or dot (IP addresses, versions), not followed by one either.
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
_FAILURE_STATUS_RE = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
_QMAIL_STATUS_RE = re.compile(r"\(#([45])\.(\d{1,3})\.(\d{1,3})\)")
# A reply code followed by a status ("550 5.1.1", "550-5.1.1", "550 #5.1.1").
_CODE_THEN_STATUS_RE = re.compile(r"(?<![\d.\w])([45][0-5]\d)[ \-]+#?[45]\.\d{1,3}\.\d{1,3}")
# A reply code where SMTP replies are quoted: line start, "said:", "returned '", ";", ":".
_CODE_RE = re.compile(
    r"(?:^|said:\s*|returned\s*'|smtp;\s*|<<<\s*|error code\s*:?\s*|code\s*[:=]\s*"
    r"|:\s+|\(|\[|\s-\s)"
    r"([45][0-5]\d)(?=[ \-:,)\]]|$)",
    re.IGNORECASE | re.MULTILINE,
)

_SUBJECTS = {
    "0": "Other or undefined status",
    "1": "Addressing status",
    "2": "Mailbox status",
    "3": "Mail system status",
    "4": "Network and routing status",
    "5": "Mail delivery protocol status",
    "6": "Message content or media status",
    "7": "Security or policy status",
}

# RFC 3463 and the IANA registry of enhanced status codes (RFC 3886, 4468, 4865, 4954, 5248,
# 6710, 7372, 7504, 7505, 8098, 8689).
_DETAILS = {
    "0.0": "Other undefined status",
    "1.0": "Other address status",
    "1.1": "Bad destination mailbox address",
    "1.2": "Bad destination system address",
    "1.3": "Bad destination mailbox address syntax",
    "1.4": "Destination mailbox address ambiguous",
    "1.5": "Destination address valid",
    "1.6": "Destination mailbox has moved, no forwarding address",
    "1.7": "Bad sender's mailbox address syntax",
    "1.8": "Bad sender's system address",
    "1.9": "Message relayed to non-compliant mailer",
    "1.10": "Recipient address has null MX",
    "2.0": "Other or undefined mailbox status",
    "2.1": "Mailbox disabled, not accepting messages",
    "2.2": "Mailbox full",
    "2.3": "Message length exceeds administrative limit",
    "2.4": "Mailing list expansion problem",
    "3.0": "Other or undefined mail system status",
    "3.1": "Mail system full",
    "3.2": "System not accepting network messages",
    "3.3": "System not capable of selected features",
    "3.4": "Message too big for system",
    "3.5": "System incorrectly configured",
    "3.6": "Requested priority was changed",
    "4.0": "Other or undefined network or routing status",
    "4.1": "No answer from host",
    "4.2": "Bad connection",
    "4.3": "Directory server failure",
    "4.4": "Unable to route",
    "4.5": "Mail system congestion",
    "4.6": "Routing loop detected",
    "4.7": "Delivery time expired",
    "4.8": "Implicit MX not allowed",
    "5.0": "Other or undefined protocol status",
    "5.1": "Invalid command",
    "5.2": "Syntax error",
    "5.3": "Too many recipients",
    "5.4": "Invalid command arguments",
    "5.5": "Wrong protocol version",
    "5.6": "Authentication exchange line is too long",
    "6.0": "Other or undefined media error",
    "6.1": "Media not supported",
    "6.2": "Conversion required and prohibited",
    "6.3": "Conversion required but not supported",
    "6.4": "Conversion with loss performed",
    "6.5": "Conversion failed",
    "6.6": "Message content not available",
    "6.7": "Non-ASCII addresses not permitted for that sender/recipient",
    "6.8": "UTF-8 string reply is required, but not permitted by the SMTP client",
    "6.9": "UTF-8 header message cannot be transferred to one or more recipients",
    "7.0": "Other or undefined security status",
    "7.1": "Delivery not authorized, message refused",
    "7.2": "Mailing list expansion prohibited",
    "7.3": "Security conversion required but not possible",
    "7.4": "Security features not supported",
    "7.5": "Cryptographic failure",
    "7.6": "Cryptographic algorithm not supported",
    "7.7": "Message integrity failure",
    "7.8": "Authentication credentials invalid",
    "7.9": "Authentication mechanism is too weak",
    "7.10": "Encryption needed",
    "7.11": "Encryption required for requested authentication mechanism",
    "7.12": "A password transition is needed",
    "7.13": "User account disabled",
    "7.14": "Trust relationship required",
    "7.15": "Priority level is too low",
    "7.16": "Message is too big for the specified priority",
    "7.17": "Mailbox owner has changed",
    "7.18": "Domain owner has changed",
    "7.19": "RRVS test cannot be completed",
    "7.20": "No passing DKIM signature found",
    "7.21": "No acceptable DKIM signature found",
    "7.22": "No valid author-matched DKIM signature found",
    "7.23": "SPF validation failed",
    "7.24": "SPF validation error",
    "7.25": "Reverse DNS validation failed",
    "7.26": "Multiple authentication checks failed",
    "7.27": "Sender address has null MX",
    "7.28": "Mail flood detected",
    "7.29": "ARC validation failure",
    "7.30": "REQUIRETLS support required",
}


@dataclass(frozen=True, slots=True)
class EnhancedStatus:
    """An RFC 3463 code `class.subject.detail`."""

    klass: int
    subject: int
    detail: int

    @classmethod
    def parse(cls, text: str | None) -> EnhancedStatus | None:
        match = _STATUS_RE.fullmatch((text or "").strip())
        if not match:
            return None
        return cls(int(match[1]), int(match[2]), int(match[3]))

    def __str__(self) -> str:
        return f"{self.klass}.{self.subject}.{self.detail}"

    @property
    def is_permanent(self) -> bool:
        return self.klass == 5

    @property
    def is_transient(self) -> bool:
        return self.klass == 4

    @property
    def is_generic(self) -> bool:
        """`x.0.0`: says nothing beyond success or failure."""
        return self.subject == 0 and self.detail == 0

    def describe(self) -> str:
        detail = _DETAILS.get(f"{self.subject}.{self.detail}")
        subject = _SUBJECTS.get(str(self.subject), "Unknown status")
        return detail or subject


def find_status(text: str) -> str | None:
    """The first failure status (4.x.x or 5.x.x) in a text, preferring a qmail-style `(#5.1.1)`."""
    match = _QMAIL_STATUS_RE.search(text) or _FAILURE_STATUS_RE.search(text)
    if not match:
        return None
    return f"{match[1]}.{int(match[2])}.{int(match[3])}"


def find_reply_code(text: str) -> str | None:
    """The first failure reply code (4xx, 5xx) in a text (`550` of `said: 550 5.1.1 ...`)."""
    match = _CODE_THEN_STATUS_RE.search(text) or _CODE_RE.search(text)
    return match[1] if match else None


def status_from_code(code: str | None) -> str | None:
    """The generic status a bare reply code implies: 550 -> 5.0.0."""
    if code and code[0] in "245":
        return f"{code[0]}.0.0"
    return None
