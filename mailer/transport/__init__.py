"""Mail transports: the shared relay, a local outbox, and later tenants' own servers."""

from mailer.transport.base import Envelope, RecipientResult, SendResult, Transport

__all__ = ["Envelope", "RecipientResult", "SendResult", "Transport"]
