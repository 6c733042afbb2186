"""Reading SMTP replies: outcome by reply code, RFC 3463 enhanced status and retry hints."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass

import aiosmtplib

from mailer.transport.base import Outcome, RecipientResult

__all__ = [
    "MAX_DETAIL_LENGTH",
    "Verdict",
    "exception_verdict",
    "parse_enhanced_status",
    "parse_retry_after",
    "reply_verdict",
]

MAX_DETAIL_LENGTH = 1000

_ENHANCED_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)", re.MULTILINE)
_RETRY_HINT = re.compile(
    r"(?:try\s+again|retry)\s+(?:in|after)\s+(\d+(?:\.\d+)?)(?![\d:./-])\s*"
    r"(hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)?\b",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_enhanced_status(text: str, code: int | None = None) -> str | None:
    """The RFC 3463 status (``5.1.1``) at the start of a reply line, if its class fits ``code``."""
    match = _ENHANCED_STATUS.search(text)
    if match is None or (code is not None and int(match[1]) != code // 100):
        return None
    return f"{match[1]}.{int(match[2])}.{int(match[3])}"


def parse_retry_after(text: str) -> float | None:
    """Seconds from a hint like "try again in 5 minutes" or "retry after 300", if any."""
    match = _RETRY_HINT.search(text)
    if match is None:
        return None
    unit = (match[2] or "s")[0].lower()
    return float(match[1]) * _UNIT_SECONDS[unit]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One outcome for a group of recipients; ``fatal`` means the connection is unusable."""

    outcome: Outcome
    detail: str
    smtp_code: int | None = None
    enhanced_status: str | None = None
    retry_after: float | None = None
    fatal: bool = True

    def for_recipient(self, recipient: str) -> RecipientResult:
        """This verdict as one recipient's result."""
        return RecipientResult(
            recipient,
            self.outcome,
            self.smtp_code,
            self.enhanced_status,
            self.detail,
            self.retry_after,
        )


def reply_verdict(stage: str, code: int, text: str) -> Verdict:
    """Classify a server reply: 2xx accepted, 5xx permanent, everything else temporary."""
    if 200 <= code < 300:
        outcome = Outcome.ACCEPTED
    elif 500 <= code < 600:
        outcome = Outcome.PERMANENT_FAILURE
    else:
        outcome = Outcome.TEMPORARY_FAILURE
    temporary = outcome is Outcome.TEMPORARY_FAILURE
    return Verdict(
        outcome,
        _clip(f"{stage}: {code} {text}"),
        code,
        parse_enhanced_status(text, code),
        parse_retry_after(text) if temporary else None,
        # 421 closes the session; codes outside 2xx-5xx mean the reply stream is out of step.
        fatal=code == 421 or not 200 <= code < 600,
    )


def exception_verdict(stage: str, exc: BaseException) -> Verdict:
    """Translate an aiosmtplib or socket exception into a verdict for unsettled recipients."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return reply_verdict(stage, exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        detail = f"{stage}: timed out ({exc.message})"
    elif isinstance(exc, aiosmtplib.SMTPConnectError):
        detail = f"{stage}: {exc.message}"
    elif isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        detail = f"{stage}: connection lost ({exc.message})"
    elif isinstance(exc, ssl.SSLError):
        detail = f"{stage}: TLS failed ({exc})"
    elif isinstance(exc, aiosmtplib.SMTPException):
        detail = f"{stage}: {exc.message}"
    else:
        detail = f"{stage}: {type(exc).__name__}: {exc}"
    return Verdict(Outcome.TEMPORARY_FAILURE, _clip(detail))


def _clip(detail: str) -> str:
    return detail if len(detail) <= MAX_DETAIL_LENGTH else detail[: MAX_DETAIL_LENGTH - 1] + "…"
