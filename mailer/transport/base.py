"""The transport interface: hand one signed message to a server, get per-recipient results."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Envelope:
    """SMTP envelope: the VERP return path and the recipients to RCPT."""

    sender: str
    recipients: tuple[str, ...]


class Outcome(enum.StrEnum):
    """What happened to one recipient in one attempt."""

    ACCEPTED = "accepted"
    TEMPORARY_FAILURE = "temporary_failure"
    PERMANENT_FAILURE = "permanent_failure"


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """One recipient's fate in one attempt, with the server's words."""

    recipient: str
    outcome: Outcome
    smtp_code: int | None = None
    enhanced_status: str | None = None
    detail: str = ""
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """The result of one attempt to send one message."""

    recipients: tuple[RecipientResult, ...]

    @classmethod
    def for_all(
        cls,
        envelope: Envelope,
        outcome: Outcome,
        *,
        smtp_code: int | None = None,
        enhanced_status: str | None = None,
        detail: str = "",
        retry_after: float | None = None,
    ) -> SendResult:
        """The same outcome for every recipient (a whole-message reply or a dropped session)."""
        return cls(
            tuple(
                RecipientResult(rcpt, outcome, smtp_code, enhanced_status, detail, retry_after)
                for rcpt in envelope.recipients
            )
        )


class Transport(Protocol):
    """Anything that can deliver a message: relay, tenant server, outbox, test fake."""

    async def send(self, envelope: Envelope, message: bytes) -> SendResult:
        """Try once to deliver `message`; never raises for SMTP-level refusals."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...
