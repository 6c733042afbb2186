"""The bounce SMTP listener over loopback: what it accepts, stores, refuses and survives."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import aiosmtplib
import pytest
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import bounce.listener
from bounce.listener import (
    COMMAND_CALL_LIMITS,
    MAX_LINE_BYTES,
    BounceInbox,
    BounceListener,
    start_bounce_listener,
)
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


async def test_a_bounce_is_stored_byte_exact_with_its_envelope(
    listener: BounceListener, sessions: Sessions
) -> None:
    async with aiosmtplib.SMTP(
        hostname=HOST, port=listener.port, local_hostname="mx.example.org", timeout=GUARD
    ) as client:
        _refused, reply = await client.sendmail("", [f"bounces+abc123@{DOMAIN.upper()}"], BOUNCE)
    [message] = await stored(sessions)
    assert reply == f"2.0.0 OK queued as {message.id}"
    assert message.raw == BOUNCE
    assert message.mail_from == ""
    assert message.rcpt_tos == [f"bounces+abc123@{DOMAIN}"]
    assert message.peer is not None and message.peer.startswith(f"{HOST}:")
    assert message.state == "pending"
    assert message.received_at.tzinfo is not None


async def test_the_reply_comes_only_after_the_commit(
    engine: AsyncEngine, sessions: Sessions
) -> None:
    committing, release = asyncio.Event(), asyncio.Event()
    events: list[str] = []

    class HeldCommit(AsyncSession):
        async def commit(self) -> None:
            committing.set()
            await release.wait()
            await super().commit()
            events.append("committed")

    inbox = BounceInbox(domain=DOMAIN, sessions=async_sessionmaker(engine, class_=HeldCommit))
    envelope = Envelope()
    envelope.mail_from, envelope.rcpt_tos = "<>", [f"bounces+abc@{DOMAIN}"]
    envelope.original_content = BOUNCE
    session = Session(asyncio.get_running_loop())
    session.peer = (HOST, 40000)
    reply = asyncio.create_task(inbox.handle_DATA(cast(Any, None), session, envelope))
    reply.add_done_callback(lambda _: events.append("replied"))
    await committing.wait()
    assert await stored(sessions) == []
    release.set()
    assert (await reply).startswith("250 2.0.0 ")
    assert events == ["committed", "replied"]
    assert [message.raw for message in await stored(sessions)] == [BOUNCE]


async def test_a_commit_under_way_completes_when_the_client_hangs_up(
    engine: AsyncEngine, sessions: Sessions, start: StartListener
) -> None:
    committing, release = asyncio.Event(), asyncio.Event()

    class HeldCommit(AsyncSession):
        async def commit(self) -> None:
            committing.set()
            await release.wait()
            await super().commit()

    listener = await start(sessions=async_sessionmaker(engine, class_=HeldCommit))
    client = await RawClient.connect(listener)
    await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
    await client.send(dot_stuffed(BOUNCE) + b".\r\n")
    await committing.wait()
    await client.close()
    async with asyncio.timeout(GUARD):
        while listener.open_sessions:
            await asyncio.sleep(0.01)
    release.set()
    await listener.close()
    assert [message.raw for message in await stored(sessions)] == [BOUNCE]


async def test_a_failed_commit_is_answered_451_and_nothing_is_stored(
    engine: AsyncEngine, sessions: Sessions, start: StartListener
) -> None:
    class FailingCommit(AsyncSession):
        async def commit(self) -> None:
            raise OperationalError("COMMIT", None, Exception("disk I/O error"))

    listener = await start(sessions=async_sessionmaker(engine, class_=FailingCommit))
    client = await RawClient.connect(listener)
    await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
    assert (await client.deliver(BOUNCE)).startswith(b"451 4.3.0 ")
    assert (await client.command("RSET")).startswith(b"250")
    await client.close()
    assert await stored(sessions) == []


async def test_an_unmigrated_database_is_answered_451(tmp_path: Path, start: StartListener) -> None:
    empty = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        listener = await start(sessions=session_factory(empty))
        client = await RawClient.connect(listener)
        await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
        assert (await client.deliver(BOUNCE)).startswith(b"451 4.3.0 ")
        await client.close()
    finally:
        await empty.dispose()


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-hook", "async-hook"])
@pytest.mark.parametrize("failing", [False, True], ids=["working", "failing"])
async def test_the_stored_hook_gets_the_id_and_cannot_change_the_reply(
    start: StartListener, sessions: Sessions, asynchronous: bool, failing: bool
) -> None:
    seen: list[int] = []

    def record(message_id: int) -> None:
        seen.append(message_id)
        if failing:
            raise RuntimeError("processor is down")

    async def record_later(message_id: int) -> None:
        record(message_id)

    listener = await start(on_stored=record_later if asynchronous else record)
    client = await RawClient.connect(listener)
    await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
    assert (await client.deliver(BOUNCE)).startswith(b"250 2.0.0 ")
    await client.close()
    assert seen == [message.id for message in await stored(sessions)]


RELAY_ATTEMPTS = {
    "other domain": "someone@example.org",
    "our local part, other domain": "bounces+abc@example.org",
    "postmaster elsewhere": "postmaster@example.org",
    "subdomain": f"bounces+abc@sub.{DOMAIN}",
    "suffixed domain": f"bounces+abc@{DOMAIN}.example.org",
    "address literal": "bounces+abc@[127.0.0.1]",
    "percent hack": f"someone%example.org@{DOMAIN}",
    "percent hack on a token": f"bounces+abc%example.org@{DOMAIN}",
    "bang path": f"example.org!someone@{DOMAIN}",
    "source route out": f"@{DOMAIN}:someone@example.org",
    "source route in": f"@example.org:bounces+abc@{DOMAIN}",
    "source route list": f"@example.org,@example.net:postmaster@{DOMAIN}",
}


@pytest.mark.parametrize("address", RELAY_ATTEMPTS.values(), ids=RELAY_ATTEMPTS.keys())
async def test_relay_attempts_are_refused_and_nothing_is_stored(
    listener: BounceListener, sessions: Sessions, address: str
) -> None:
    client = await RawClient.connect(listener)
    assert (await client.command("MAIL FROM:<>")).startswith(b"250 ")
    assert (await client.command(f"RCPT TO:<{address}>")).startswith(b"550 5.")
    assert (await client.command("DATA")).startswith(b"503 ")
    await client.close()
    assert await stored(sessions) == []


UNKNOWN_MAILBOXES = [
    "someone",
    "bounces",
    "bounces+",
    "bounces+ab-c",
    "bounces+abc+def",
    "bounces+abc.def",
    "reply+x_y",
    "forwards+abc",
    "bounce+abc",
    "mailer-daemon",
    "bounces+" + "a" * 65,
]


@pytest.mark.parametrize("local_part", UNKNOWN_MAILBOXES)
async def test_unknown_mailboxes_of_our_domain_are_refused(
    listener: BounceListener, local_part: str
) -> None:
    client = await RawClient.connect(listener)
    assert (await client.command("MAIL FROM:<>")).startswith(b"250 ")
    assert (await client.command(f"RCPT TO:<{local_part}@{DOMAIN}>")).startswith(b"550 5.1.1 ")
    await client.close()


async def test_our_mailboxes_are_accepted_and_recorded_in_canonical_form(
    listener: BounceListener, sessions: Sessions
) -> None:
    accepted = {
        f"bounces+abc123@{DOMAIN}": f"bounces+abc123@{DOMAIN}",
        f"forward+acme42@{DOMAIN}": f"forward+acme42@{DOMAIN}",
        f"reply+t0k3n@{DOMAIN}": f"reply+t0k3n@{DOMAIN}",
        f"postmaster@{DOMAIN}": f"postmaster@{DOMAIN}",
        f"abuse@{DOMAIN}": f"abuse@{DOMAIN}",
        f"PostMaster@{DOMAIN.upper()}": f"postmaster@{DOMAIN}",
        "postmaster": f"postmaster@{DOMAIN}",
        f'"bounces+q1"@{DOMAIN}': f"bounces+q1@{DOMAIN}",
        f"Bounces+ABC@{DOMAIN}": f"bounces+abc@{DOMAIN}",
    }
    client = await RawClient.connect(listener)
    await open_transaction(client, "mailer-daemon@example.org", *accepted)
    assert (await client.deliver(BOUNCE)).startswith(b"250 ")
    await client.close()
    [message] = await stored(sessions)
    assert message.rcpt_tos == list(accepted.values())
    assert message.mail_from == "mailer-daemon@example.org"


async def test_recipients_past_the_hundredth_are_deferred(
    listener: BounceListener, sessions: Sessions
) -> None:
    client = await RawClient.connect(listener)
    assert (await client.command("MAIL FROM:<>")).startswith(b"250 ")
    await client.send(
        b"".join(b"RCPT TO:<bounces+r%d@%s>\r\n" % (n, DOMAIN.encode()) for n in range(101))
    )
    replies = [await client.reply() for _ in range(101)]
    assert all(reply.startswith(b"250 ") for reply in replies[:100])
    assert replies[100].startswith(b"452 4.5.3 ")
    assert (await client.command("DATA")).startswith(b"354 ")
    assert (await client.deliver(BOUNCE)).startswith(b"250 ")
    await client.close()
    [message] = await stored(sessions)
    assert len(message.rcpt_tos) == 100


async def test_an_oversize_message_is_refused_and_the_session_goes_on(
    start: StartListener, sessions: Sessions
) -> None:
    listener = await start(max_message_bytes=2048)
    client = await RawClient.connect(listener)
    assert (await client.command("MAIL FROM:<> SIZE=4096")).startswith(b"552 ")
    await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
    await client.send((b"x" * 70 + b"\r\n") * 60)
    assert (await client.command(".")).startswith(b"552 ")
    await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
    assert (await client.deliver(BOUNCE)).startswith(b"250 ")
    await client.close()
    assert [message.raw for message in await stored(sessions)] == [BOUNCE]


async def test_an_overlong_sender_is_refused(listener: BounceListener) -> None:
    client = await RawClient.connect(listener)
    sender = "a" * 320 + "@example.org"
    assert (await client.command(f"MAIL FROM:<{sender}>")).startswith(b"553 5.1.7 ")
    await client.close()


async def test_nothing_is_ever_sent_back_to_a_null_sender(
    listener: BounceListener, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await RawClient.connect(listener)
    outbound: list[object] = []
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "create_connection", lambda *a, **k: outbound.append(a))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: outbound.append(a))
    await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
    assert (await client.deliver(BOUNCE)).startswith(b"250 ")
    assert (await client.command("QUIT")).startswith(b"221 ")
    await listener.close()
    assert outbound == []
    assert len(await stored(sessions)) == 1


def test_the_listener_has_no_client_code() -> None:
    tree = ast.parse(Path(bounce.listener.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    clients = {"smtplib", "aiosmtplib", "socket", "mailer.transport"}
    assert not {name for name in imported if name.split(".")[0] in clients or name in clients}
    assert "open_connection" not in ast.dump(tree) and "create_connection" not in ast.dump(tree)


async def test_an_idle_session_is_closed(start: StartListener) -> None:
    listener = await start(timeout=0.2)
    client = await RawClient.connect(listener)
    assert await client.rest() == b""


async def test_a_client_trickling_data_is_cut_off(start: StartListener, sessions: Sessions) -> None:
    listener = await start(timeout=0.3)
    client = await RawClient.connect(listener)
    await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
    hung_up = asyncio.create_task(client.rest())
    async with asyncio.timeout(GUARD):
        while not hung_up.done():
            try:
                await client.send(b"x")
            except ConnectionError:
                break
            await asyncio.sleep(0.02)
    assert await hung_up == b""
    assert await stored(sessions) == []


async def test_a_busy_session_still_ends_at_its_deadline(start: StartListener) -> None:
    listener = await start(session_timeout=0.3)
    client = await RawClient.connect(listener)
    replies = []
    with pytest.raises(ConnectionError):
        for _ in range(COMMAND_CALL_LIMITS["RSET"]):
            replies.append(await client.command("RSET"))
            await asyncio.sleep(0.05)
    assert replies and all(reply.startswith(b"250 ") for reply in replies)


async def test_a_flood_of_unknown_commands_ends_the_session(listener: BounceListener) -> None:
    client = await RawClient.connect(listener)
    replies = [await client.command("XYZZY") for _ in range(4)]
    assert all(reply.startswith(b"500 ") for reply in replies)
    assert (await client.command("XYZZY")).startswith(b"502 5.5.1 ")
    assert await client.rest() == b""


async def test_repeating_a_command_past_its_budget_ends_the_session(
    listener: BounceListener,
) -> None:
    client = await RawClient.connect(listener)
    replies = [await client.command("NOOP") for _ in range(COMMAND_CALL_LIMITS["*"])]
    assert all(reply.startswith(b"250 ") for reply in replies)
    assert (await client.command("NOOP")).startswith(b"421 ")
    assert await client.rest() == b""


SMUGGLING = {
    "LF.CRLF": b"\n.\r\n",
    "CR.CRLF": b"\r.\r\n",
    "CRLF.LF": b"\r\n.\n",
    "LF.LF": b"\n.\n",
    "CRLF.CR": b"\r\n.\r",
    "bare LF": b"\n",
    "bare CR": b"\r",
}


@pytest.mark.parametrize("sequence", SMUGGLING.values(), ids=SMUGGLING.keys())
async def test_smuggled_transactions_stay_inside_the_message(
    listener: BounceListener, sessions: Sessions, sequence: bytes
) -> None:
    smuggled = (
        b"MAIL FROM:<attacker@example.org>\r\n"
        b"RCPT TO:<bounces+smuggled@" + DOMAIN.encode() + b">\r\n"
        b"DATA\r\n"
        b"Subject: smuggled\r\n\r\nsmuggled body\r\n"
    )
    wire = b"Subject: first\r\n\r\nbefore" + sequence + smuggled + b".\r\n"
    client = await RawClient.connect(listener)
    await open_transaction(client, "", f"bounces+legit@{DOMAIN}")
    await client.send(wire + b"QUIT\r\n")
    replies = (await client.rest()).splitlines()
    assert [reply[:4] for reply in replies] == [b"250 ", b"221 "]
    [message] = await stored(sessions)
    assert message.raw == as_received(wire)
    assert b"MAIL FROM:<attacker@example.org>" in message.raw
    assert message.rcpt_tos == [f"bounces+legit@{DOMAIN}"]


async def test_pipelined_transactions(listener: BounceListener, sessions: Sessions) -> None:
    client = await RawClient.connect(listener, ehlo=False)
    features = await client.command("EHLO client.test")
    assert b"250-PIPELINING" in features
    assert b"AUTH" not in features and b"STARTTLS" not in features and b"SMTPUTF8" not in features
    await client.send(
        f"MAIL FROM:<>\r\nRCPT TO:<bounces+one@{DOMAIN}>\r\n"
        f"RCPT TO:<someone@example.org>\r\nDATA\r\n".encode()
    )
    assert [(await client.reply())[:4] for _ in range(4)] == [b"250 ", b"250 ", b"550 ", b"354 "]
    await client.send(
        BOUNCE
        + b".\r\n"
        + f"MAIL FROM:<firm@acme.example>\r\nRCPT TO:<forward+acme@{DOMAIN}>\r\nDATA\r\n".encode()
    )
    assert [(await client.reply())[:4] for _ in range(4)] == [b"250 ", b"250 ", b"250 ", b"354 "]
    await client.send(b"Subject: second\r\n\r\nforwarded\r\n.\r\nQUIT\r\n")
    assert [reply[:4] for reply in (await client.rest()).splitlines()] == [b"250 ", b"221 "]
    messages = await stored(sessions)
    assert [message.rcpt_tos for message in messages] == [
        [f"bounces+one@{DOMAIN}"],
        [f"forward+acme@{DOMAIN}"],
    ]
    assert messages[1].raw == b"Subject: second\r\n\r\nforwarded\r\n"


async def test_garbage_and_8bit_commands_are_refused_and_the_server_keeps_serving(
    listener: BounceListener, sessions: Sessions
) -> None:
    client = await RawClient.connect(listener)
    assert (await client.command("MAIL FROM:<caf\u00e9@example.org>")).startswith(b"500 ")
    assert (await client.command("MAIL FROM:<> SMTPUTF8")).startswith(b"501 ")
    assert (await client.command(b"\xff\xfe\x00 EHLO")).startswith(b"500 ")
    assert (await client.command(b"\x00" * 50)).startswith(b"500 ")
    assert (await client.command(b"A" * (MAX_LINE_BYTES * 2))).startswith(b"500 ")
    assert (await client.command(b"")).startswith(b"500 ")
    await client.send(bytes(range(256)) * 64 + b"\r\nQUIT\r\n")
    await client.rest()
    another = await RawClient.connect(listener)
    await open_transaction(another, "", f"bounces+abc@{DOMAIN}")
    assert (await another.deliver(BOUNCE)).startswith(b"250 ")
    await another.close()
    assert [message.raw for message in await stored(sessions)] == [BOUNCE]


async def test_long_lines_are_stored_up_to_the_line_limit(
    listener: BounceListener, sessions: Sessions
) -> None:
    client = await RawClient.connect(listener)
    long_line = b"Subject: long\r\n\r\n" + b"y" * 10_000 + b"\r\n"
    await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
    assert (await client.deliver(long_line)).startswith(b"250 ")
    await open_transaction(client, "", f"bounces+abc@{DOMAIN}")
    too_long = b"Subject: too long\r\n\r\n" + b"z" * (MAX_LINE_BYTES * 2) + b"\r\n"
    assert (await client.deliver(too_long)).startswith(b"500 ")
    assert (await client.command("NOOP")).startswith(b"250 ")
    await client.close()
    assert [message.raw for message in await stored(sessions)] == [long_line]


async def test_the_log_holds_no_bodies_recipients_or_raw_client_input(
    listener: BounceListener, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await RawClient.connect(listener)
    assert (await client.command("XYZZY\x1b[2J")).startswith(b"500 ")
    await open_transaction(client, "", f"bounces+secrettoken@{DOMAIN}")
    assert (await client.deliver(b"Subject: s\r\n\r\nsecret body\r\n")).startswith(b"250 ")
    await client.close()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "stored inbound message" in logged
    assert "secret body" not in logged and "\x1b" not in logged
    assert not any(
        "secrettoken" in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO
    )


async def test_close_hangs_up_on_open_sessions(listener: BounceListener) -> None:
    client = await RawClient.connect(listener)
    await listener.close()
    assert await client.rest() == b""
    with pytest.raises(OSError):
        await RawClient.connect(listener)


@pytest.mark.integration
async def test_a_bounce_is_stored_byte_exact_in_postgresql(tmp_path: Path) -> None:
    async with temporary_database("postgresql", tmp_path) as url:
        engine = create_engine(url)
        try:
            await migrate(engine)
            sessions = session_factory(engine)
            listener = await start_bounce_listener(
                host=HOST, port=0, domain=DOMAIN, sessions=sessions, max_message_bytes=4096
            )
            try:
                client = await RawClient.connect(listener)
                await open_transaction(client, "", f"forward+acme@{DOMAIN}")
                assert (await client.deliver(BOUNCE)).startswith(b"250 ")
                await client.close()
            finally:
                await listener.close()
            [message] = await stored(sessions)
            assert (message.raw, message.mail_from) == (BOUNCE, "")
        finally:
            await engine.dispose()
