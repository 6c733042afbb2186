"""A provider that appends each SMS to a local JSON Lines file, for development and demos."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from mailer.sms.provider import SmsOutcome, SmsResult

__all__ = ["SmsOutboxProvider"]

logger = logging.getLogger(__name__)


class SmsOutboxProvider:
    """Accepts every SMS by appending `{at, id, to, body, idempotency_key}` as one JSON line.

    One `write` of one line to a file opened for appending, under a lock, keeps lines whole;
    disk errors are temporary failures, as for the email outbox.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"SmsOutboxProvider({str(self._path)!r})"

    async def send(self, to: str, body: str, *, idempotency_key: str) -> SmsResult:
        provider_id = f"outbox-{uuid.uuid4().hex}"
        record = {
            "at": datetime.now(UTC).isoformat(),
            "id": provider_id,
            "to": to,
            "body": body,
            "idempotency_key": idempotency_key,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            async with self._lock:
                await asyncio.to_thread(self._append, line.encode("utf-8"))
        except OSError as exc:
            code = errno.errorcode.get(exc.errno or 0, "unknown error")
            detail = f"SMS outbox write failed: {code} {exc.strerror or exc}"
            logger.warning("%s: %s", self._path, detail)
            return SmsResult(SmsOutcome.TEMPORARY, detail=detail)
        return SmsResult(SmsOutcome.ACCEPTED, provider_id=provider_id, detail="written to outbox")

    async def aclose(self) -> None:
        """Nothing to close: every write opens and closes the file."""

    def _append(self, data: bytes) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
