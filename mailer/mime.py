"""Builds the bytes of one email: RFC 5322 headers, alternative text/HTML bodies, attachments."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address as HeaderAddress
from email.utils import format_datetime
from types import MappingProxyType

from email_validator import EmailNotValidError, validate_email

from mailer.events import Address
from mailer.message import Attachment, RenderedEmail

__all__ = ["build_message", "make_message_id"]

# Headers are formatted here rather than by `email.policy.SMTP`: on Python 3.11 its folder
# RFC 2047-encodes the comma between mailboxes when a long address list wraps after an
# encoded word, and drops the space between words it splits into encoded words.

CRLF = "\r\n"
FOLD_AT = 78
"""Preferred maximum line length (RFC 5322 2.1.1); only an unbreakable token exceeds it."""

_MAX_PLAIN_TOKEN = 900
"""Longer unbroken ASCII runs are sent as encoded words so no line passes 998 characters."""

_ENCODED_WORD_BYTES = 39
"""UTF-8 bytes per encoded word: 52 base64 characters, 64 with the frame, so that a word
fits on the first line after any header name of up to 12 characters ("Reply-To: ")."""

_CACHED_MAILBOXES = 4096
"""Mailboxes kept formatted: the sender and Reply-To of each firm come back on every email."""

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})

_OWN_HEADERS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "dkim-signature",
    }
)
_FORBIDDEN_CHARACTERS = ("\r", "\n", "\x00")
# Unicode's controls (Cc) and its line and paragraph separators, which str.splitlines() honours.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FOLDABLE = re.compile(r" +[^ ]+")
_SPACE_RUN = re.compile(r" {2,}")
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ATOM_PHRASE = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")
_DOT_ATOM_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*")
_PRINTABLE_ASCII = re.compile(r"[ -~]*")
_SAFE_FILENAME = re.compile(r"[A-Za-z0-9 !#$%&'()*+,./:;<=>?@\[\]^_`{|}~-]{1,60}")
_RFC2231_SAFE = frozenset((string.ascii_letters + string.digits + "!#$&+-.^_`|~").encode())
_MIME_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*", re.ASCII)
_MESSAGE_ID = re.compile(r"<[!-;=?A-~]+@[!-;=?A-~]+>")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}")

_Entity = tuple[list[str], bytes]
"""A MIME entity: its folded header fields and its encoded body."""


def make_message_id(tenant: str, request_id: str, domain: str) -> str:
    """A Message-ID that is the same for every attempt at the same (tenant, request)."""
    if not _DOMAIN.fullmatch(domain):
        raise ValueError("the Message-ID domain must be an ASCII host name")
    digest = hashlib.sha256(f"{tenant}\x00{request_id}".encode()).hexdigest()
    return f"<{digest[:32]}@{domain.lower()}>"


def build_message(
    rendered: RenderedEmail,
    *,
    sender: Address,
    reply_to: Sequence[Address],
    to: Sequence[Address],
    cc: Sequence[Address],
    message_id: str,
    date: datetime,
    headers: Mapping[str, str] = _NO_HEADERS,
) -> bytes:
    """The message as CRLF-terminated, 7-bit bytes; identical for identical arguments.

    Bcc recipients belong in the SMTP envelope only and are never given here. Raises
    ValueError for header names or values containing CR, LF or NUL, for a naive `date`
    and for addresses that cannot be written without SMTPUTF8.
    """
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError("message_id must look like <id@domain>")
    mixed, alternative = _boundaries(message_id)
    entity = _multipart(
        "alternative",
        alternative,
        [_text_part(rendered.text, "plain"), _text_part(rendered.html, "html")],
    )
    if rendered.attachments:
        attachments = [_attachment_part(attachment) for attachment in rendered.attachments]
        entity = _multipart("mixed", mixed, [entity, *attachments])
    fields = _address_fields(sender, reply_to, to, cc)
    fields += [
        ("Subject", _unstructured(rendered.subject)),
        ("Date", _date(date)),
        ("Message-ID", message_id),
        *_extra_fields(headers),
        ("MIME-Version", "1.0"),
    ]
    entity_headers, body = entity
    head = [_fold(name, value) for name, value in fields] + entity_headers
    return (CRLF.join(head) + CRLF + CRLF).encode("ascii") + body


def _boundaries(message_id: str) -> tuple[str, str]:
    # Quoted-printable and base64 never produce "=_", so no encoded body can contain a boundary.
    digest = hashlib.sha256(message_id.encode("ascii")).hexdigest()[:32]
    return f"=_mixed_{digest}", f"=_alt_{digest}"


def _address_fields(
    sender: Address, reply_to: Sequence[Address], to: Sequence[Address], cc: Sequence[Address]
) -> list[tuple[str, str]]:
    fields = [("From", _mailbox(sender))]
    if reply_to:
        fields.append(("Reply-To", ", ".join(_mailbox(address) for address in reply_to)))
    if to:
        fields.append(("To", ", ".join(_mailbox(address) for address in to)))
    if cc:
        fields.append(("Cc", ", ".join(_mailbox(address) for address in cc)))
    return fields


def _extra_fields(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    fields = []
    for name, value in headers.items():
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"header {name} is set by the message builder")
        fields.append((name, _unstructured(value)))
    return fields


def _date(date: datetime) -> str:
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the Date must be timezone-aware")
    return format_datetime(date)


# --- header values ---------------------------------------------------------------------


def _header_text(value: str) -> str:
    """Header text without line breaks; other control characters become spaces."""
    if any(character in value for character in _FORBIDDEN_CHARACTERS):
        raise ValueError("header values must not contain CR, LF or NUL characters")
    return _INVISIBLE.sub(" ", value).strip(" ")


def _unstructured(value: str) -> str:
    """Subject-like text: as is when plain ASCII, else RFC 2047 encoded words."""
    text = _header_text(value)
    if _is_plain(text):
        return text
    return " ".join(_encoded_words(text))


def _is_plain(text: str) -> bool:
    # "=?" could be mistaken for the start of an encoded word by a reader.
    return (
        _PRINTABLE_ASCII.fullmatch(text) is not None
        and "=?" not in text
        and all(len(word) <= _MAX_PLAIN_TOKEN for word in text.split(" "))
    )


def _encoded_words(text: str) -> list[str]:
    """Base64 encoded words of whole characters; readers join them without spaces."""
    chunks: list[bytes] = []
    chunk = b""
    for character in text:
        encoded = character.encode("utf-8")
        if len(chunk) + len(encoded) > _ENCODED_WORD_BYTES:
            chunks.append(chunk)
            chunk = b""
        chunk += encoded
    chunks.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=" for chunk in chunks]


def _mailbox(address: Address) -> str:
    return _mailbox_value(address.email, address.name or "")


def _mailbox_value(email: str, name: str) -> str:
    """`name <addr-spec>`, or the addr-spec alone; written as is when both are ASCII atoms."""
    if _DOT_ATOM_ADDRESS.fullmatch(email) and (not name or _is_atom_phrase(name)):
        # What the general path makes of them: the parser returns a dot-atom address as given.
        return f"{name} <{email}>" if name else email
    return _parsed_mailbox(email, name)


def _is_atom_phrase(name: str) -> bool:
    return (
        len(name) <= _MAX_PLAIN_TOKEN
        and "=?" not in name
        and _ATOM_PHRASE.fullmatch(name) is not None
    )


@functools.lru_cache(maxsize=_CACHED_MAILBOXES)
def _parsed_mailbox(email: str, name: str) -> str:
    addr_spec = _addr_spec(email)
    # Runs of white space in a display name carry no meaning, and readers collapse them.
    display_name = _SPACE_RUN.sub(" ", _header_text(name))
    return f"{_phrase(display_name)} <{addr_spec}>" if display_name else addr_spec


def _phrase(name: str) -> str:
    """A display name as atoms, a quoted string or encoded words, whichever is needed."""
    if not _is_plain(name):
        return " ".join(_encoded_words(name))
    if _ATOM_PHRASE.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _addr_spec(email: str) -> str:
    """The address in ASCII (IDNA domain), quoted as RFC 5322 requires."""
    if any(character in email for character in _FORBIDDEN_CHARACTERS):
        raise ValueError("addresses must not contain CR, LF or NUL characters")
    if not email.isascii():
        email = _ascii_email(email)
    try:
        return HeaderAddress(addr_spec=email).addr_spec
    except (HeaderParseError, ValueError) as exc:
        raise ValueError(f"not a valid address: {email!r}") from exc


def _ascii_email(email: str) -> str:
    try:
        checked = validate_email(
            email, check_deliverability=False, allow_quoted_local=True, allow_smtputf8=True
        )
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid address: {exc}") from exc
    if checked.ascii_email is None:
        raise ValueError(f"{email!r} has a non-ASCII local part, which needs SMTPUTF8")
    return checked.ascii_email


def _fold(name: str, value: str) -> str:
    """`Name: value`, wrapped before spaces so that unfolding restores the value exactly."""
    # The tokens below join up to the value without its trailing spaces; most fields fit.
    unfolded = f"{name}:" + f" {value}".rstrip(" ")
    if len(unfolded) <= FOLD_AT:
        return unfolded
    lines: list[str] = []
    line = f"{name}:"
    for token in _FOLDABLE.findall(" " + value):
        if len(line) + len(token) > FOLD_AT and line != f"{name}:":
            lines.append(line)
            line = token
        else:
            line += token
    lines.append(line)
    return CRLF.join(lines)


# --- bodies ----------------------------------------------------------------------------


def _text_part(text: str, subtype: str) -> _Entity:
    # b2a_qp's soft breaks follow the input's first line break, so encode LF text, then convert.
    lf_text = _LINE_BREAK.sub("\n", text) if "\r" in text else text
    body = binascii.b2a_qp(lf_text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return [
        f"Content-Type: text/{subtype}; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
    ], body


def _attachment_part(attachment: Attachment) -> _Entity:
    if not _MIME_TYPE.fullmatch(attachment.content_type):
        raise ValueError(f"invalid attachment content type {attachment.content_type!r}")
    filename = _header_text(attachment.filename)
    content_type = attachment.content_type.lower()
    disposition = "attachment"
    if filename:
        content_type = "; ".join([content_type, *_parameter("name", filename)])
        disposition = "; ".join([disposition, *_parameter("filename", filename)])
    body = base64.encodebytes(attachment.data).replace(b"\n", b"\r\n").removesuffix(b"\r\n")
    headers = [
        _fold("Content-Type", content_type),
        "Content-Transfer-Encoding: base64",
        _fold("Content-Disposition", disposition),
    ]
    return headers, body


def _parameter(attribute: str, value: str) -> list[str]:
    """A MIME parameter: quoted when short ASCII, else RFC 2231 encoded in sections."""
    if _SAFE_FILENAME.fullmatch(value) and "=?" not in value:
        return [f'{attribute}="{value}"']
    encoded = "".join(chr(b) if b in _RFC2231_SAFE else f"%{b:02X}" for b in value.encode())
    sections = _split_percent_encoded("utf-8''" + encoded, 50)
    if len(sections) == 1:
        return [f"{attribute}*={sections[0]}"]
    return [f"{attribute}*{index}*={section}" for index, section in enumerate(sections)]


def _split_percent_encoded(text: str, size: int) -> list[str]:
    """Pieces of at most `size` characters that never cut a %XX escape."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        escape = text.rfind("%", end - 2, end)
        if escape != -1 and end < len(text):
            end = escape
        pieces.append(text[start:end])
        start = end
    return pieces


def _multipart(subtype: str, boundary: str, parts: Iterable[_Entity]) -> _Entity:
    delimiter = f"--{boundary}".encode("ascii")
    body = b"".join(delimiter + b"\r\n" + _serialize(part) + b"\r\n" for part in parts)
    headers = [_fold("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')]
    return headers, body + delimiter + b"--\r\n"


def _serialize(entity: _Entity) -> bytes:
    headers, body = entity
    return (CRLF.join(headers) + CRLF + CRLF).encode("ascii") + body
