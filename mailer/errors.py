"""The mailer's exception hierarchy; foreign exceptions are translated where they enter.

MailerError
├── ConfigurationError       settings that cannot work (bad URL, unreadable key)
├── RenderError              a template or PDF could not be produced from the event
├── SigningError             DKIM signing failed (bad key)
└── DeliveryError            the transport could not hand the message over
    ├── TemporaryDeliveryError   try again later (4xx, timeout, dropped connection)
    └── PermanentDeliveryError   do not try again (5xx)
"""

from __future__ import annotations


class MailerError(Exception):
    """Base of every error the mailer raises on purpose."""


class ConfigurationError(MailerError):
    """The settings cannot work as given."""


class RenderError(MailerError):
    """A template or PDF could not be produced from the event's data."""


class SigningError(MailerError):
    """The message could not be DKIM-signed."""


class DeliveryError(MailerError):
    """The transport could not hand the message over."""

    def __init__(
        self, detail: str, *, smtp_code: int | None = None, enhanced_status: str | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.smtp_code = smtp_code
        self.enhanced_status = enhanced_status


class TemporaryDeliveryError(DeliveryError):
    """Worth retrying later: a 4xx reply, a timeout or a dropped connection."""

    def __init__(
        self,
        detail: str,
        *,
        smtp_code: int | None = None,
        enhanced_status: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail, smtp_code=smtp_code, enhanced_status=enhanced_status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Not worth retrying: a 5xx reply."""
