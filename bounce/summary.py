"""What staff see of an inbound message: its sender, subject and a sanitized plain-text body."""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

MAX_BODY_CHARACTERS = 20_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class InboundSummary:
    sender: str
    subject: str
    text: str


def summarize(raw: bytes) -> InboundSummary:
    """Never raises: a message too broken to read still gets an empty summary."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        return InboundSummary(
            sender=_clean(str(message.get("From", "")))[:320],
            subject=_clean(str(message.get("Subject", "")))[:500],
            text=_body_text(message),
        )
    except Exception:  # malformed input must not stop processing: show what we can
        return InboundSummary("", "", _clean(raw[:MAX_BODY_CHARACTERS].decode("utf-8", "replace")))


def _body_text(message: Message) -> str:
    part = message.get_body(("plain", "html")) if isinstance(message, EmailMessage) else None
    if part is None:
        return ""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = payload.decode(part.get_content_charset() or "utf-8", "replace")
    if part.get_content_subtype() == "html":
        text = html.unescape(_TAGS.sub(" ", text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _BLANK_LINES.sub("\n\n", _clean(text, keep_newlines=True)).strip()[:MAX_BODY_CHARACTERS]


def _clean(text: str, *, keep_newlines: bool = False) -> str:
    text = _CONTROL.sub("", text)
    return text if keep_newlines else " ".join(text.split())
