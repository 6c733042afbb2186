"""Bounce parsing and classification: raw returned mail in, who bounced, why, and for which
message out. Pure: no I/O besides what `bounce.cli` reads."""

from bounce.addresses import verp_token
from bounce.classify import classify, is_hard
from bounce.dsn import DeliveryStatus, RecipientStatus, parse_delivery_status
from bounce.model import BouncedRecipient, BounceKind, ParsedBounce, Reason
from bounce.parse import parse_bounce
from bounce.status import EnhancedStatus

__all__ = [
    "BounceKind",
    "BouncedRecipient",
    "DeliveryStatus",
    "EnhancedStatus",
    "ParsedBounce",
    "Reason",
    "RecipientStatus",
    "classify",
    "is_hard",
    "parse_bounce",
    "parse_delivery_status",
    "verp_token",
]
