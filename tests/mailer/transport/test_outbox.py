"""OutboxTransport: one atomic .eml per message, disk errors as temporary failures."""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import NoReturn

import pytest

from mailer.transport.base import Envelope, Outcome
from mailer.transport.outbox import OutboxTransport, outbox_filename

SENDER = "bounces+inv-42@mail.example.com"
ENVELOPE = Envelope(SENDER, ("alice@example.org", "hidden-bcc@example.org"))
MESSAGE = (
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to:subject; b=abc\r\n"
    b"Message-ID: <inv-42.7/x@mail.example.com>\r\n"
    b"From: billing@example.com\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: Invoice 42\r\n"
    b"\r\n"
    b"Hello\r\n"
)


def eml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


async def test_writes_one_eml_with_envelope_headers_then_the_untouched_bytes(
    tmp_path: Path,
) -> None:
    outbox = OutboxTransport(tmp_path / "outbox")

    result = await outbox.send(ENVELOPE, MESSAGE)

    assert {r.outcome for r in result.recipients} == {Outcome.ACCEPTED}
    [path] = eml_files(tmp_path / "outbox")
    content = path.read_bytes()
    assert content.startswith(b"Return-Path: <bounces+inv-42@mail.example.com>\r\n")
    assert content.endswith(MESSAGE)
    parsed = message_from_bytes(content)
    assert parsed["X-Outbox-Recipients"].split(",")[1].strip() == "<hidden-bcc@example.org>"
    assert path.name in result.recipients[0].detail


async def test_keeps_the_messages_line_endings(tmp_path: Path) -> None:
    unix = MESSAGE.replace(b"\r\n", b"\n")

    await OutboxTransport(tmp_path).send(ENVELOPE, unix)

    [path] = eml_files(tmp_path)
    assert b"\r\n" not in path.read_bytes()


async def test_each_message_gets_its_own_file_and_no_temporaries_remain(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)

    for _ in range(3):
        await outbox.send(ENVELOPE, MESSAGE)

    assert len(eml_files(tmp_path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".eml")) == []


def test_filename_is_utc_timestamp_and_sanitized_message_id() -> None:
    now = datetime(2024, 1, 31, 23, 59, 59, 123456, tzinfo=UTC)

    assert (
        outbox_filename(MESSAGE, now) == "20240131T235959.123456Z-inv-42.7_x@mail.example.com.eml"
    )


def test_filename_falls_back_to_a_uuid_without_message_id() -> None:
    now = datetime(2024, 1, 31, tzinfo=UTC)

    name = outbox_filename(b"Subject: no id\r\n\r\nbody\r\n", now)

    assert name.startswith("20240131T000000.000000Z-")
    assert len(name.removesuffix(".eml").split("-", 1)[1]) == 32


def test_hostile_message_id_cannot_escape_the_directory() -> None:
    message = b"Message-ID: <../../etc/passwd>\r\n\r\n"

    name = outbox_filename(message, datetime(2024, 1, 1, tzinfo=UTC))

    assert "/" not in name
    assert not name.split("-", 1)[1].startswith(".")


async def test_disk_full_is_a_temporary_failure_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> NoReturn:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)

    result = await OutboxTransport(tmp_path).send(ENVELOPE, MESSAGE)

    assert {r.outcome for r in result.recipients} == {Outcome.TEMPORARY_FAILURE}
    assert "ENOSPC" in result.recipients[0].detail
    assert list(tmp_path.iterdir()) == []


async def test_unwritable_directory_is_a_temporary_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = Path.open

    def denied(self: Path, *args: object, **kwargs: object) -> NoReturn:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "open", denied)

    result = await OutboxTransport(tmp_path).send(ENVELOPE, MESSAGE)

    monkeypatch.setattr(Path, "open", real_open)
    assert {r.outcome for r in result.recipients} == {Outcome.TEMPORARY_FAILURE}
    assert "EACCES" in result.recipients[0].detail


async def test_directory_that_is_a_file_is_a_temporary_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("not a directory")

    result = await OutboxTransport(blocker).send(ENVELOPE, MESSAGE)

    assert {r.outcome for r in result.recipients} == {Outcome.TEMPORARY_FAILURE}


async def test_line_breaks_in_envelope_addresses_are_refused(tmp_path: Path) -> None:
    envelope = Envelope(SENDER, ("alice@example.org\r\nX-Injected: yes",))

    result = await OutboxTransport(tmp_path).send(envelope, MESSAGE)

    assert {r.outcome for r in result.recipients} == {Outcome.PERMANENT_FAILURE}
    assert eml_files(tmp_path) == []
