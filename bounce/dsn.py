"""RFC 3464 reader: the per-message and per-recipient fields of `message/delivery-status`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from bounce.addresses import clean_address
from bounce.message import content_type, part_text, walk

DSN_TYPES = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "text/delivery-status"}
)
_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
_RECIPIENT_FIELDS = frozenset({"final-recipient", "original-recipient", "x-actual-recipient"})


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One per-recipient block of a delivery status report."""

    final_recipient: str
    action: str = ""
    status: str = ""
    original_recipient: str | None = None
    diagnostic_type: str = ""
    diagnostic_code: str = ""
    remote_mta: str | None = None
    last_attempt_date: str | None = None
    will_retry_until: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """A whole delivery status report."""

    reporting_mta: str | None
    recipients: tuple[RecipientStatus, ...]
    original_envelope_id: str | None = None
    arrival_date: str | None = None


def _fields(text: str) -> list[list[tuple[str, str]]]:
    """Blocks of (name, value) pairs; folded lines joined. A new Final-Recipient opens a block
    even without the blank line some MTAs forget."""
    blocks: list[list[tuple[str, str]]] = [[]]
    for line in text.split("\n"):
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
            continue
        if line[0] in " \t" and blocks[-1]:
            name, value = blocks[-1][-1]
            blocks[-1][-1] = (name, f"{value} {line.strip()}")
            continue
        match = _FIELD_RE.match(line)
        if not match:
            continue
        name = match[1].lower()
        if name == "final-recipient" and any(n == "final-recipient" for n, _ in blocks[-1]):
            blocks.append([])
        blocks[-1].append((name, match[2].strip()))
    return [b for b in blocks if b]


def _typed_value(value: str) -> tuple[str, str]:
    """`smtp; 550 5.1.1 ...` -> ("smtp", "550 5.1.1 ..."); values without a type keep it empty."""
    kind, sep, rest = value.partition(";")
    if sep and re.fullmatch(r"[A-Za-z][\w.-]{0,20}", kind.strip()):
        return kind.strip().lower(), rest.strip()
    return "", value.strip()


def parse_delivery_status(text: str) -> DeliveryStatus:
    """Parse the text of a delivery-status body. Blocks without Final-Recipient are per-message
    fields (the first) or ignored; a recipient given only as Original-Recipient is kept."""
    reporting_mta: str | None = None
    envelope_id: str | None = None
    arrival: str | None = None
    recipients: list[RecipientStatus] = []
    for block in _fields(text):
        fields: dict[str, str] = {}
        for name, value in block:
            fields.setdefault(name, value)
        if not (fields.keys() & _RECIPIENT_FIELDS):
            reporting_mta = (
                reporting_mta or _typed_value(fields.get("reporting-mta", ""))[1] or None
            )
            envelope_id = envelope_id or fields.get("original-envelope-id")
            arrival = arrival or fields.get("arrival-date")
            continue
        if "reporting-mta" in fields and not reporting_mta:
            reporting_mta = _typed_value(fields["reporting-mta"])[1] or None
        final = clean_address(_typed_value(fields.get("final-recipient", ""))[1])
        original = clean_address(_typed_value(fields.get("original-recipient", ""))[1])
        actual = clean_address(_typed_value(fields.get("x-actual-recipient", ""))[1])
        address = final or original or actual
        if original and original != final:
            address = original  # the address the sender used, before aliasing or forwarding
        if not address:
            continue
        diag_type, diag = _typed_value(fields.get("diagnostic-code", ""))
        recipients.append(
            RecipientStatus(
                final_recipient=address,
                action=fields.get("action", "").split()[0].lower() if fields.get("action") else "",
                status=fields.get("status", "").split(" ")[0].strip("()"),
                original_recipient=original or None,
                diagnostic_type=diag_type,
                diagnostic_code=diag,
                remote_mta=_typed_value(fields.get("remote-mta", ""))[1] or None,
                last_attempt_date=fields.get("last-attempt-date"),
                will_retry_until=fields.get("will-retry-until"),
            )
        )
    return DeliveryStatus(reporting_mta, tuple(recipients), envelope_id, arrival)


def _looks_like_dsn_text(text: str) -> bool:
    return bool(
        re.search(r"^\s*Final-Recipient\s*:", text, re.IGNORECASE | re.MULTILINE)
        and re.search(r"^\s*(Action|Status)\s*:", text, re.IGNORECASE | re.MULTILINE)
    )


def find_delivery_status(message: Message) -> DeliveryStatus | None:
    """The delivery status report of a bounce: a `message/delivery-status` part, or a text part
    that carries its fields (some MTAs mislabel it). None if there is none."""
    found = _find(message, into_messages=False) or _find(message, into_messages=True)
    return found


def _find(message: Message, *, into_messages: bool) -> DeliveryStatus | None:
    texts: list[str] = []
    fallback: list[str] = []
    for part in walk(message, into_messages=into_messages):
        ctype = content_type(part)
        if ctype in DSN_TYPES:
            texts.append(part_text(part))
        elif ctype.startswith("text/") and ctype != "text/html":
            text = part_text(part)
            if _looks_like_dsn_text(text):
                fallback.append(text)
    candidates = texts or fallback
    if not candidates:
        return None
    reports = [parse_delivery_status(text) for text in candidates]
    unique: dict[str, RecipientStatus] = {}
    for report in reports:
        for item in report.recipients:
            unique.setdefault(item.final_recipient, item)
    recipients = tuple(unique.values())
    reporting = next((r.reporting_mta for r in reports if r.reporting_mta), None)
    envelope = next((r.original_envelope_id for r in reports if r.original_envelope_id), None)
    arrival = next((r.arrival_date for r in reports if r.arrival_date), None)
    return DeliveryStatus(reporting, recipients, envelope, arrival)
