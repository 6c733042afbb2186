"""Mail transports: the shared relay, a local outbox, and later tenants' own servers."""

from mailer.transport.base import Envelope, Outcome, RecipientResult, SendResult, Transport

__all__ = ["Envelope", "Outcome", "RecipientResult", "SendResult", "Transport"]
