"""DKIM-signs messages (RFC 6376: rsa-sha256, relaxed/relaxed) with OpenSSL through cryptography."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mailer.errors import ConfigurationError, SigningError

__all__ = ["MIN_KEY_BITS", "SIGNED_HEADERS", "DkimSigner"]

MIN_KEY_BITS = 2048
SIGNED_HEADERS = (
    "from",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
)
"""Signed when present; From is listed once more than it occurs so none can be added."""

FOLD_AT = 78

_DNS_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DNS_NAME = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_WSP_RUN = re.compile(rb"[ \t]+")
_PADDING = padding.PKCS1v15()
_HASH = hashes.SHA256()

_Field = tuple[bytes, bytes]
"""A header field: its lower-cased name and its raw bytes, folds included, without the CRLF."""


class DkimSigner:
    """Signs with one domain's key; thread-safe, one RSA operation and one pass per message."""

    def __init__(self, domain: str, selector: str, private_key_pem: bytes) -> None:
        self.domain = _dns_name(domain, "domain")
        self.selector = _dns_name(selector, "selector")
        self._key = _load_rsa_key(private_key_pem)

    @classmethod
    def from_file(cls, domain: str, selector: str, path: str | os.PathLike[str]) -> DkimSigner:
        """A signer whose PEM key is read from `path`."""
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the DKIM key {path}: {exc.strerror}") from exc
        return cls(domain, selector, pem)

    def public_key_dns_record(self) -> str:
        """The TXT value to publish at `<selector>._domainkey.<domain>`."""
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"

    def sign(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """`message` with CRLF line endings and a DKIM-Signature header field prepended."""
        message = _with_crlf(message)
        fields, body = _split(message)
        names, signed_fields = _select_fields(fields)
        folder = _Folder("DKIM-Signature:")
        folder.add("v=1;", "a=rsa-sha256;", "c=relaxed/relaxed;")
        folder.add(f"d={self.domain};", f"s={self.selector};")
        folder.add(f"t={int(time.time()) if timestamp is None else timestamp};")
        folder.add_pieces(_h_tag_pieces(names))
        folder.add(f"bh={_b64(hashlib.sha256(_relaxed_body(body)).digest())};")
        folder.add("b=")
        unsigned = folder.text().encode("ascii")
        data = b"".join(_relaxed_field(field) for field in signed_fields)
        data += _relaxed_field(unsigned).removesuffix(b"\r\n")
        folder.add_pieces(_b64(self._key.sign(data, _PADDING, _HASH)), separator="")
        return folder.text().encode("ascii") + b"\r\n" + message


def _dns_name(value: str, what: str) -> str:
    if len(value) > 253 or not _DNS_NAME.fullmatch(value):
        raise ConfigurationError(f"the DKIM {what} {value!r} is not an ASCII DNS name")
    return value


def _load_rsa_key(private_key_pem: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Not chained: a parser's message may quote the key, which must stay out of logs.
        raise SigningError("the DKIM key is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningError("the DKIM key must be an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise SigningError(f"the DKIM key has {key.key_size} bits; {MIN_KEY_BITS} are required")
    return key


def _with_crlf(message: bytes) -> bytes:
    """Line endings as SMTP will transmit them, ending with a line break."""
    crlf = message.count(b"\r\n")
    if message.count(b"\n") != crlf or message.count(b"\r") != crlf:
        message = _LINE_BREAK.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return message


def _split(message: bytes) -> tuple[list[_Field], bytes]:
    if message.startswith(b"\r\n"):
        raise SigningError("the message has no header fields")
    head, blank_line, body = message.partition(b"\r\n\r\n")
    if not blank_line:
        head = head.removesuffix(b"\r\n")
    fields: list[_Field] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + b"\r\n" + line)
        elif b":" in line:
            fields.append((line.split(b":", 1)[0].rstrip(b" \t").lower(), line))
        else:
            raise SigningError("the message has a malformed header line")
    return fields, body


def _select_fields(fields: list[_Field]) -> tuple[list[str], list[bytes]]:
    """The h= names and the fields they sign, each name taking instances from the bottom up."""
    names: list[str] = []
    signed: list[bytes] = []
    for name in SIGNED_HEADERS:
        instances = [raw for field_name, raw in fields if field_name == name.encode("ascii")]
        if name == "from":
            if not instances:
                raise SigningError("the message has no From header field")
            names.append(name)  # the extra, empty instance
        names += [name] * len(instances)
        signed += reversed(instances)
    return names, signed


def _h_tag_pieces(names: list[str]) -> list[str]:
    pieces = [f"{name}:" for name in names]
    pieces[0] = "h=" + pieces[0]
    pieces[-1] = pieces[-1].removesuffix(":") + ";"
    return pieces


def _relaxed_field(field: bytes) -> bytes:
    """RFC 6376 3.4.2: lower-case name, unfolded value with single spaces, no edge spaces."""
    name, _, value = field.partition(b":")
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value + b"\r\n"


def _relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4 for a CRLF body: single spaces, none at line ends, no trailing blank lines."""
    if b"\t" in body or b"  " in body:
        body = _WSP_RUN.sub(b" ", body)
    body = body.replace(b" \r\n", b"\r\n").rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Folder:
    """Lays tag=value pieces out on lines of at most FOLD_AT characters where it can."""

    def __init__(self, start: str) -> None:
        self._lines: list[str] = []
        self._line = start

    def add(self, *tags: str) -> None:
        for tag in tags:
            self.add_pieces([tag])

    def add_pieces(self, pieces: Iterable[str], *, separator: str = " ") -> None:
        """Pieces of one tag: joined without space, wrapped between pieces when full."""
        for piece in pieces:
            if len(self._line) + len(separator) + len(piece) > FOLD_AT:
                self._lines.append(self._line)
                self._line = " " + piece
            else:
                self._line += separator + piece
            separator = ""

    def text(self) -> str:
        return "\r\n".join([*self._lines, self._line])
