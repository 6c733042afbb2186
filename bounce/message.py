"""Tolerant reading of raw mail: line ends, charsets, encoded headers, MIME parts as text."""

from __future__ import annotations

import binascii
import codecs
import email
import quopri
import re
from collections.abc import Iterator
from email.header import decode_header
from email.message import Message
from email.policy import compat32

# Bounces quote whole invoices with their PDFs; everything a bounce tells comes long before that.
MAX_INPUT_BYTES = 2 * 1024 * 1024
MAX_PART_TEXT = 256 * 1024
MAX_PARTS = 200
EMBEDDED = frozenset({"message/rfc822", "message/global", "message/partial"})
_FALLBACK_CHARSETS = ("utf-8", "cp1252", "latin-1")
_CHARSET_ALIASES = {
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "x-euc-jp": "euc_jp",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-user-defined": "latin-1",
    "unknown-8bit": "latin-1",
}


def normalize_line_ends(raw: bytes) -> bytes:
    """CRLF and CR-only line ends become LF, so the parser sees one convention."""
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def load_message(raw: bytes) -> Message:
    """Parse raw bytes into a message; never raises on malformed MIME (compat32 is lenient)."""
    data = normalize_line_ends(raw[:MAX_INPUT_BYTES])
    if data.startswith(b"From ") and b"\n" in data:  # an mbox envelope line
        data = data.split(b"\n", 1)[1]
    message: Message = email.message_from_bytes(data, policy=compat32)
    return message


def codec_for(charset: str | None) -> str:
    """A Python codec for a MIME charset name, falling back to utf-8 for unknown ones."""
    name = (charset or "").strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    if not name:
        return "utf-8"
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return "utf-8"


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes to text in the declared charset, else utf-8, else cp1252; never raises."""
    candidates = [codec_for(charset)] if charset else []
    candidates += [c for c in _FALLBACK_CHARSETS if c not in candidates]
    for codec in candidates:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
    return data.decode("utf-8", "replace")


def _decode_surrogates(text: str) -> str:
    """Headers parsed from bytes keep 8-bit octets as surrogate escapes; turn them into text."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_bytes(text.encode("utf-8", "surrogateescape"))


def header_text(message: Message, name: str) -> str:
    """A header's value as plain text: RFC 2047 words decoded, 8-bit octets guessed, unfolded."""
    try:
        value = message.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    return decode_header_value(value)


def decode_header_value(value: object) -> str:
    raw = _decode_surrogates(str(value))
    text = raw
    if "=?" in raw:
        try:
            pieces = []
            for chunk, charset in decode_header(raw):
                if isinstance(chunk, bytes):
                    pieces.append(decode_bytes(chunk, charset))
                else:
                    pieces.append(chunk)
            text = "".join(pieces)
        except Exception:
            text = raw
    return re.sub(r"\s*\n\s*", " ", text).strip()


def content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def _transfer_decode(payload: str, encoding: str) -> bytes:
    data = payload.encode("utf-8", "surrogateescape")
    if encoding == "base64":
        cleaned = re.sub(rb"[^A-Za-z0-9+/=]", b"", data)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
        try:
            return binascii.a2b_base64(cleaned)
        except (binascii.Error, ValueError):
            return data
    if encoding == "quoted-printable":
        try:
            return quopri.decodestring(data)
        except (binascii.Error, ValueError):
            return data
    return data


def part_text(part: Message) -> str:
    """The decoded text of a leaf part (any text-like payload), or of a message/* part's source."""
    try:
        payload = part.get_payload()
    except Exception:
        return ""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if isinstance(payload, list):
        source = "\n\n".join(
            _message_source(p) for p in payload[:MAX_PARTS] if isinstance(p, Message)
        )
        if encoding in ("base64", "quoted-printable"):  # encoded text the parser split as headers
            return decode_bytes(_transfer_decode(source.strip(), encoding))
        return source
    if not isinstance(payload, str):
        return ""
    data = _transfer_decode(payload[: MAX_PART_TEXT * 2], encoding)
    try:
        charset = part.get_param("charset")
    except Exception:
        charset = None
    text = decode_bytes(data, charset if isinstance(charset, str) else None)
    return text[:MAX_PART_TEXT].replace("\r\n", "\n").replace("\r", "\n")


def _message_source(message: Message) -> str:
    """Headers (and body, if any) of an embedded message, as text, without re-encoding."""
    lines = [f"{key}: {decode_header_value(value)}" for key, value in message.items()]
    body = message.get_payload()
    text = "\n".join(lines)
    if isinstance(body, str) and body.strip():
        text += "\n\n" + _decode_surrogates(body)
    elif isinstance(body, list):
        text += "\n\n" + part_text(message)
    return text


def walk(message: Message, *, into_messages: bool = False) -> Iterator[Message]:
    """All parts depth first, bounded; embedded messages are entered only if asked."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, level = stack.pop()
        seen += 1
        yield part
        if level > 12 or (level and not into_messages and content_type(part) in EMBEDDED):
            continue
        payload = part.get_payload() if part.is_multipart() or level == 0 else None
        if isinstance(payload, list):
            children = [p for p in payload if isinstance(p, Message)]
            stack.extend((child, level + 1) for child in reversed(children))
