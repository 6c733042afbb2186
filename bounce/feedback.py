"""ARF feedback reports (RFC 5965): complaints about a message, not bounces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from bounce.addresses import clean_address, find_addresses
from bounce.message import content_type, header_text, part_text, walk

_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """The machine-readable part of an abuse report."""

    feedback_type: str
    recipients: tuple[str, ...]  # Original-Rcpt-To, else the reported message's To
    reporting_mta: str | None = None
    user_agent: str | None = None
    source_ip: str | None = None


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for match in _FIELD_RE.finditer(text):
        name = match[1].lower()
        fields[name] = f"{fields[name]}, {match[2].strip()}" if name in fields else match[2].strip()
    return fields


def _reported_to(message: Message) -> list[str]:
    for part in walk(message):
        ctype = content_type(part)
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return find_addresses(header_text(payload[0], "To"))
        if ctype in ("text/rfc822-headers", "message/global-headers"):
            match = re.search(r"^To:[ \t]*(.*(?:\n[ \t].*)*)", part_text(part), re.I | re.M)
            if match:
                return find_addresses(match[1])
    return []


def read_feedback(message: Message) -> FeedbackReport | None:
    """The report of an ARF message (or of one that only carries its fields), else None."""
    report_text = None
    for part in walk(message):
        if content_type(part) == "message/feedback-report":
            report_text = part_text(part)
            break
    if report_text is None:
        ctype = re.sub(r"\s|\"", "", str(message.get("Content-Type", ""))).lower()
        if "report-type=feedback-report" not in ctype:
            return None
        report_text = ""
    fields = _fields(report_text)
    recipients = [clean_address(v) for v in fields.get("original-rcpt-to", "").split(",")]
    found = [r for r in recipients if r] or _reported_to(message)
    return FeedbackReport(
        feedback_type=fields.get("feedback-type", "abuse").split()[0].lower() or "abuse",
        recipients=tuple(dict.fromkeys(found)),
        reporting_mta=fields.get("reporting-mta", "").split(";")[-1].strip() or None,
        user_agent=fields.get("user-agent"),
        source_ip=fields.get("source-ip"),
    )
