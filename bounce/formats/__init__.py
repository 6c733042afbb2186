"""Non-standard bounce bodies: the plain-text failure reports of MTAs and mail providers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bounce.addresses import clean_address, find_addresses
from bounce.formats.profiles import locate
from bounce.formats.ses import read_ses_notification
from bounce.formats.text import (
    Finding,
    Report,
    blocks_by_address,
    candidate_addresses,
    compact,
    cut_original,
    infer_action,
)
from bounce.patterns import normalize_text, strong_reason
from bounce.status import find_reply_code, find_status

__all__ = ["Finding", "Report", "TextReading", "diagnose", "looks_like_bounce", "read_text_bounce"]

MAX_RECIPIENTS = 25
_BOUNCE_SENDER = re.compile(
    r"mailer-?daemon|postmaster|mail ?delivery|delivery ?(?:status|subsystem|system)|"
    r"microsoftexchange|mail administrator|mail system|<@>|courier mail server|"
    r"\bdaemon@|mdaemon|symantec|nobody@|mailer@|\bmta\b|returned mail",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery status notification|returned mail|return(?:ed|ing) message"
    r"|failure notice|delivery fail|mail delivery failed|delivery problem|could not be delivered"
    r"|not delivered|message not delivered|nondeliver|non-deliver|non remis|unzustellbar|"
    r"nicht zustellbar|unable to deliver|rejected|mail system error|delivery notification|"
    r"\bndr\b|\bdsn\b|warning: could not send|delayed mail|delivery delayed|"
    r"notice: mail delivery|message status|failed delivery|bounce|недоставленное|"
    r"не доставлено|mail could not be delivered|delivery report|no se pudo entregar|"
    r"consegna non riuscita|non recapitato|errore di consegna|kan ikke leveres",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class TextReading:
    detector: str
    findings: tuple[Finding, ...]
    section: str


def looks_like_bounce(report: Report) -> bool:
    """Signals outside the body text that a message is a non-delivery report."""
    ctype = str(report.message.get("Content-Type", "")).lower()
    return bool(
        _BOUNCE_SENDER.search(report.sender)
        or _BOUNCE_SUBJECT.search(report.subject)
        or "report-type=delivery-status" in re.sub(r"\s|\"", "", ctype)
        or report.message.get("X-Failed-Recipients")
    )


def _telling(text: str) -> bool:
    return bool(find_status(text) or find_reply_code(text) or strong_reason(normalize_text(text)))


def _finding(address: str, texts: list[str], action: str) -> Finding:
    """The first of the texts (the address's block, ..., the whole report) that says something:
    the reason may sit before the address (MailMarshal, Notes) or in a transcript above it."""
    evidence = next((t for t in texts if t and _telling(t)), next((t for t in texts if t), ""))
    return Finding(
        address=address,
        diagnostic=compact(evidence, 1500),
        status=find_status(evidence),
        reply_code=find_reply_code(evidence),
        action=action,
    )


def read_text_bounce(report: Report, *, required: bool) -> TextReading | None:
    """Recipients from a report's text. Without `required` (no bounce signals elsewhere) only a
    format-specific phrase counts, not the generic wording."""
    ses = read_ses_notification(report.text)
    if ses is not None and ses[0] == "bounce":
        return TextReading("amazonses", tuple(ses[1]), report.text[:2000])
    located = locate(report.text)
    if located is None and not required:
        return None
    name, start = located or ("generic", 0)
    if name == "generic" and not required:
        return None
    section = cut_original(report.text[start:])
    failed_header = report.header("X-Failed-Recipients")
    if failed_header:
        candidates = [clean_address(a) for a in failed_header.split(",")]
        candidates = [a for a in candidates if a]
    else:
        candidates = candidate_addresses(section, report.bystanders)
        if not candidates and start:
            section = cut_original(report.text)
            candidates = candidate_addresses(section, report.bystanders)
    if not candidates:
        return TextReading(name, (), section) if required else None
    action = infer_action(report.subject, section)
    candidates = candidates[:MAX_RECIPIENTS]
    return TextReading(name, diagnose(report, section, candidates, action), section)


def diagnose(
    report: Report, section: str, addresses: list[str], action: str
) -> tuple[Finding, ...]:
    """A finding per address, its diagnostic taken from the most specific text that has one."""
    blocks = blocks_by_address(section, addresses)
    whole = cut_original(report.text)
    wider = blocks_by_address(whole, addresses)
    return tuple(
        _finding(address, [blocks.get(address, ""), wider.get(address, ""), section, whole], action)
        for address in addresses
    )


def addresses_in(text: str) -> list[str]:
    return find_addresses(text)
