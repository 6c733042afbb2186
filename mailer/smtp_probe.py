"""Plain words for how an SMTP attempt went: what a tenant's staff see after a test send."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailer.transport.base import Outcome, RecipientResult, SendResult


class ProbeVerdict(enum.StrEnum):
    ACCEPTED = "accepted"
    CONNECTION_REFUSED = "connection_refused"
    NO_ANSWER = "no_answer"
    TLS_FAILED = "tls_failed"
    AUTH_FAILED = "auth_failed"
    REFUSED = "refused"
    TEMPORARY = "temporary"


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """The verdict, a sentence for people, and the server's own words."""

    verdict: ProbeVerdict
    summary: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.verdict is ProbeVerdict.ACCEPTED


_SUMMARIES = {
    ProbeVerdict.ACCEPTED: "Accepted: the server took the test message.",
    ProbeVerdict.CONNECTION_REFUSED: "Connection refused: nothing accepts mail at that host and "
    "port (check the host name, the port and the firewall).",
    ProbeVerdict.NO_ANSWER: "No answer: the server did not respond in time.",
    ProbeVerdict.TLS_FAILED: "TLS failed: no secure connection could be made (check the TLS "
    "mode and the server's certificate); nothing was sent in clear text.",
    ProbeVerdict.AUTH_FAILED: "Authentication failed: the server refused the user name or "
    "password.",
    ProbeVerdict.REFUSED: "Refused: the server answered but would not take the message.",
    ProbeVerdict.TEMPORARY: "Temporary failure: the server asked to try again later.",
}


def describe(result: SendResult) -> ProbeOutcome:
    """How one attempt went, judged by its first unsuccessful recipient (or success)."""
    failed = [r for r in result.recipients if r.outcome is not Outcome.ACCEPTED]
    if not failed:
        accepted = result.recipients[0] if result.recipients else None
        return _outcome(ProbeVerdict.ACCEPTED, accepted.detail if accepted else "")
    first = failed[0]
    return _outcome(_verdict(first), first.detail)


def _verdict(result: RecipientResult) -> ProbeVerdict:
    stage, _, words = result.detail.partition(":")
    lowered = words.lower()
    if result.smtp_code in (530, 534, 535, 538) or stage == "AUTH":
        return ProbeVerdict.AUTH_FAILED
    if stage == "STARTTLS" or "tls" in lowered or "ssl" in lowered or "certificate" in lowered:
        return ProbeVerdict.TLS_FAILED
    if stage == "connect" and ("refused" in lowered or "errno 111" in lowered):
        return ProbeVerdict.CONNECTION_REFUSED
    if "timed out" in lowered or "timeout" in lowered:
        return ProbeVerdict.NO_ANSWER
    if result.outcome is Outcome.PERMANENT_FAILURE:
        return ProbeVerdict.REFUSED
    return ProbeVerdict.TEMPORARY


def _outcome(verdict: ProbeVerdict, detail: str) -> ProbeOutcome:
    return ProbeOutcome(verdict, _SUMMARIES[verdict], detail)
