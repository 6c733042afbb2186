"""Shared by the bounce listener tests: a raw SMTP client, a listener on loopback, helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bounce.listener import BounceListener, start_bounce_listener
from mailer.store.database import create_engine, migrate, session_factory
from mailer.store.inbox_models import InboundMessage
from tests.support.databases import temporary_database

HOST = "127.0.0.1"
DOMAIN = "bounces.mailer.test"
GUARD = 10.0  # only keeps a broken test from hanging; nothing here measures time

Sessions = async_sessionmaker[AsyncSession]
StartListener = Callable[..., Awaitable[BounceListener]]


class RawClient:
    """An SMTP client over a plain socket: sends bytes exactly as given, reads whole replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, listener: BounceListener, *, ehlo: bool = True) -> RawClient:
        reader, writer = await asyncio.open_connection(HOST, listener.port)
        client = cls(reader, writer)
        assert (await client.reply()).startswith(b"220 ")
        if ehlo:
            assert (await client.command("EHLO client.test")).startswith(b"250-")
        return client

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> bytes:
        """One reply, all its lines; ConnectionError once the server has hung up."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), GUARD)
            if not line:
                raise ConnectionError("the server closed the connection")
            lines.append(line)
            if line[3:4] != b"-":
                return b"".join(lines)

    async def command(self, line: str | bytes) -> bytes:
        await self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return await self.reply()

    async def deliver(self, content: bytes) -> bytes:
        """Send DATA content (CRLF-terminated lines) dot-stuffed, with the final dot."""
        await self.send(dot_stuffed(content) + b".\r\n")
        return await self.reply()

    async def rest(self) -> bytes:
        """Everything the server still sends until it hangs up."""
        return await asyncio.wait_for(self.reader.read(), GUARD)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with temporary_database("sqlite", tmp_path) as url:
        engine = create_engine(url)
        await migrate(engine)
        try:
            yield engine
        finally:
            await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> Sessions:
    return session_factory(engine)


@pytest.fixture
async def start(sessions: Sessions) -> AsyncIterator[StartListener]:
    """Start listeners on a free loopback port (defaults overridable); all closed afterwards."""
    listeners: list[BounceListener] = []

    async def start_listener(**overrides: Any) -> BounceListener:
        options: dict[str, Any] = {
            "host": HOST,
            "port": 0,
            "domain": DOMAIN,
            "sessions": sessions,
            "max_message_bytes": 256 * 1024,
            "timeout": GUARD,
        }
        listener = await start_bounce_listener(**(options | overrides))
        listeners.append(listener)
        return listener

    yield start_listener
    for listener in listeners:
        await listener.close()


@pytest.fixture
async def listener(start: StartListener) -> BounceListener:
    return await start()


async def stored(sessions: Sessions) -> list[InboundMessage]:
    async with sessions() as session:
        return list((await session.scalars(select(InboundMessage).order_by("id"))).all())


async def open_transaction(client: RawClient, sender: str, *recipients: str) -> None:
    assert (await client.command(f"MAIL FROM:<{sender}>")).startswith(b"250 ")
    for recipient in recipients:
        assert (await client.command(f"RCPT TO:<{recipient}>")).startswith(b"250 ")
    assert (await client.command("DATA")).startswith(b"354 ")


def dot_stuffed(content: bytes) -> bytes:
    """DATA content as a client sends it: a dot doubled where a line starts with one."""
    lines = content.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)


def as_received(wire: bytes) -> bytes:
    """DATA content as RFC 5321 4.5.2 defines it: final dot removed, leading dots unstuffed."""
    assert wire.endswith(b"\r\n.\r\n")
    lines = wire[: -len(b".\r\n")].split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


BOUNCE = (
    b"From: MAILER-DAEMON@mx.example.org\r\n"
    b"To: bounces+abc123@bounces.mailer.test\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Content-Type: text/plain; charset=latin-1\r\n"
    b"\r\n"
    b".a line that starts with a dot\r\n"
    b"..and one with two\r\n"
    b"8-bit \xe9\xff and a NUL \x00 byte\r\n"
)
