"""The returned original message: its Message-ID and our X-Mailer-Ref, wherever they are quoted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from bounce.addresses import find_addresses, verp_token
from bounce.message import content_type, decode_header_value, header_text, part_text, walk

REF_HEADER = "X-Mailer-Ref"
_MESSAGE_ID = re.compile(r"^[ \t>]*Message-I[dD][ \t]*:[ \t]*\n?[ \t]*(<[^<>\s]+>)", re.I | re.M)
_REF = re.compile(
    r"^[ \t>]*X-Mailer-Ref[ \t]*:[ \t]*\n?[ \t]*([A-Za-z0-9_.=-]{4,128})", re.I | re.M
)
_RETURN_PATH = re.compile(r"^[ \t>]*Return-Path[ \t]*:[ \t]*(.*)$", re.I | re.M)
_VERP_ANYWHERE = re.compile(r"\bbounces\+([A-Za-z0-9_-]{4,64})@", re.IGNORECASE)
_ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")


@dataclass(frozen=True, slots=True)
class OriginalRefs:
    """What identifies the message that bounced."""

    message_id: str | None = None
    ref: str | None = None
    verp_token: str | None = None
    senders: tuple[str, ...] = ()  # its From/Sender/Return-Path: never a failed recipient
    recipients: tuple[str, ...] = ()  # its To/Cc


def _from_headers(headers: Message) -> OriginalRefs:
    message_id = header_text(headers, "Message-ID") or None
    match = re.search(r"<[^<>\s]+>", message_id or "")
    ref = header_text(headers, REF_HEADER).split()
    senders = [
        a
        for name in ("From", "Sender", "Return-Path", "Reply-To")
        for a in find_addresses(header_text(headers, name))
    ]
    recipients = [a for name in ("To", "Cc") for a in find_addresses(header_text(headers, name))]
    return OriginalRefs(
        message_id=match[0] if match else None,
        ref=ref[0] if ref else None,
        verp_token=verp_token(header_text(headers, "Return-Path")),
        senders=tuple(senders),
        recipients=tuple(recipients),
    )


def _header_block(text: str) -> Message:
    parsed = Message()
    current: str | None = None
    for line in text.split("\n")[:400]:
        if not line.strip():
            if current:
                break
            continue
        if line[0] in " \t" and current:
            parsed.replace_header(current, f"{parsed[current]} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,60}", name):
            current = name
            if name in parsed:
                continue
            parsed[name] = value.strip()
    return parsed


def _embedded(message: Message) -> OriginalRefs | None:
    for part in walk(message):
        ctype = content_type(part)
        if part is not message and ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return _from_headers(payload[0])
            if isinstance(payload, str):
                return _from_headers(_header_block(payload))
        if ctype in ("text/rfc822-headers", "message/global-headers", "message/partial"):
            return _from_headers(_header_block(part_text(part)))
    return None


_HEADER_RUN = re.compile(
    r"^(?:Received|Return-Path|Message-ID|Date|From|Subject|To):[^\n]*\n"
    r"(?:(?:[A-Za-z][A-Za-z0-9-]*:|[ \t])[^\n]*\n){2,}",
    re.IGNORECASE | re.MULTILINE,
)


def _inline(text: str) -> OriginalRefs | None:
    """Quoted original headers in the report text (a run of unindented header lines)."""
    for match in _HEADER_RUN.finditer(text):
        block = _header_block(match[0])
        if block.get("Message-ID") or block.get("To") or block.get("Received"):
            return _from_headers(block)
    return None


def find_original(message: Message, text: str) -> OriginalRefs:
    """Refs from an embedded message or headers part, else from inline quoted headers in the
    report text, else the bounce's own In-Reply-To/References (auto-replies, Exchange)."""
    found = _embedded(message) or _inline(text) or OriginalRefs()
    message_id, ref, token = found.message_id, found.ref, found.verp_token
    if not message_id and (match := _MESSAGE_ID.search(text)):
        message_id = match[1]
    if not ref and (match := _REF.search(text)):
        ref = match[1]
    if not token:
        for match in _RETURN_PATH.finditer(text):
            token = token or verp_token(match[1])
    if not message_id:
        replied = decode_header_value(message.get("In-Reply-To", "")) or decode_header_value(
            message.get("References", "")
        )
        first = re.search(r"<[^<>\s]+>", replied)
        message_id = first[0] if first else None
    return OriginalRefs(message_id, ref, token, found.senders, found.recipients)


def envelope_token(message: Message) -> str | None:
    """The VERP token of the address the bounce itself was delivered to."""
    for name in _ENVELOPE_HEADERS:
        for value in message.get_all(name) or []:
            token = verp_token(decode_header_value(value))
            if token:
                return token
    return None


def token_in_text(text: str) -> str | None:
    match = _VERP_ANYWHERE.search(text)
    return match[1] if match else None
