"""A transport that writes each message as an .eml file into a directory, for dev and tests."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import uuid
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from mailer.transport.base import Envelope, Outcome, SendResult

__all__ = ["OutboxTransport"]

logger = logging.getLogger(__name__)

MAX_ID_LENGTH = 100
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._@+=-]+")


class OutboxTransport:
    """Accepts every recipient by writing ``<UTC time>-<Message-ID>.eml`` atomically.

    The file holds a ``Return-Path: <envelope sender>`` line, an ``X-Outbox-Recipients`` line
    with the envelope recipients (Bcc recipients appear nowhere else), and then the message bytes
    unchanged, so its DKIM signature still verifies. Disk errors are temporary failures.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @property
    def directory(self) -> Path:
        """Where the .eml files go."""
        return self._directory

    def __repr__(self) -> str:
        return f"OutboxTransport({str(self._directory)!r})"

    async def send(self, envelope: Envelope, message: bytes) -> SendResult:
        """Write the message; never raises for disk errors."""
        problem = _envelope_problem(envelope)
        if problem:
            return SendResult.for_all(envelope, Outcome.PERMANENT_FAILURE, detail=problem)
        try:
            path = await asyncio.to_thread(self._write, envelope, message)
        except OSError as exc:
            code = errno.errorcode.get(exc.errno or 0, "unknown error")
            detail = f"outbox write failed: {code} {exc.strerror or exc}"
            logger.warning("outbox %s: %s", self._directory, detail)
            return SendResult.for_all(envelope, Outcome.TEMPORARY_FAILURE, detail=detail)
        logger.debug("outbox wrote %s", path.name)
        return SendResult.for_all(envelope, Outcome.ACCEPTED, detail=f"written to {path.name}")

    async def aclose(self) -> None:
        """Nothing to close: every write opens and closes its own file."""

    def _write(self, envelope: Envelope, message: bytes) -> Path:
        self._directory.mkdir(parents=True, exist_ok=True)
        final = self._directory / outbox_filename(message, datetime.now(UTC))
        # A dot-prefixed name without .eml keeps half-written files away from outbox readers.
        temporary = self._directory / f".{final.name}.{uuid.uuid4().hex}.tmp"
        try:
            _write_durably(temporary, _outbox_headers(envelope, message) + message)
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_directory(self._directory)
        return final


def outbox_filename(message: bytes, now: datetime) -> str:
    """``20240131T235959.123456Z-<sanitized Message-ID or a uuid>.eml``."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{_message_id_slug(message) or uuid.uuid4().hex}.eml"


def _message_id_slug(message: bytes) -> str:
    headers = BytesHeaderParser(policy=compat32).parsebytes(message)
    raw = str(headers.get("Message-ID", "")).strip().strip("<>")
    slug = _UNSAFE_FILENAME_CHARS.sub("_", raw).strip("._")
    return slug[:MAX_ID_LENGTH]


def _outbox_headers(envelope: Envelope, message: bytes) -> bytes:
    newline = b"\r\n" if b"\r\n" in message[:2000] else b"\n"
    recipients = ("," + newline.decode() + " ").join(f"<{r}>" for r in envelope.recipients)
    lines = [f"Return-Path: <{envelope.sender}>", f"X-Outbox-Recipients: {recipients}"]
    return b"".join(line.encode("utf-8") + newline for line in lines)


def _envelope_problem(envelope: Envelope) -> str | None:
    """Addresses with line breaks would inject headers into the file."""
    for address in (envelope.sender, *envelope.recipients):
        if any(c in address for c in "\r\n\0"):
            return "envelope address contains a line break"
    return None


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
