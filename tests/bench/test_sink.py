"""The counting sink: Message-IDs from the header block, DATA read in blocks and unstuffed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bench.sink import NO_MESSAGE_ID, _read_data, message_id_of
from mailer.events import Address
from mailer.message import RenderedEmail
from mailer.mime import build_message


def test_message_id_comes_from_the_header_block_only() -> None:
    message = build_message(
        RenderedEmail("Invoice", "<p>Message-ID: <fake@body></p>", "Message-ID: <fake@body>\n"),
        sender=Address(email="noreply@bench.example"),
        reply_to=[],
        to=[Address(email="customer@example.org")],
        cc=[],
        message_id="<0123abcd@bench.example>",
        date=datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert message_id_of(message) == "<0123abcd@bench.example>"
    assert message_id_of(b"Subject: x\r\n\r\nMessage-ID: <fake@body>\r\n") == NO_MESSAGE_ID
    assert message_id_of(b"message-id:<a@b>\r\n") == "<a@b>"


async def _read(wire: bytes) -> tuple[bytes, bytes]:
    reader = asyncio.StreamReader(limit=1 << 20)
    reader.feed_data(wire)
    reader.feed_eof()
    data = await _read_data(reader)
    return data, await reader.read()


@pytest.mark.parametrize(
    ("wire", "content"),
    [
        (b".\r\n", b""),
        (b"a\r\n.\r\n", b"a\r\n"),
        (b"Thanks.\r\n..\r\n..b\r\nc.\r\n.\r\n", b"Thanks.\r\n.\r\n.b\r\nc.\r\n"),
        (b"..x\r\n.\r\n", b".x\r\n"),
    ],
)
async def test_data_ends_at_the_lone_dot_and_is_unstuffed(wire: bytes, content: bytes) -> None:
    assert await _read(wire + b"MAIL FROM:<next@x>\r\n") == (content, b"MAIL FROM:<next@x>\r\n")
