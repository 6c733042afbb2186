"""The bounce SMTP listener over loopback: what it stores, when it replies, and its lifecycle."""

from __future__ import annotations

import ast
import asyncio
import logging
import socket
from pathlib import Path
from typing import Any, cast

import aiosmtplib
import pytest
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import bounce.listener
from bounce.listener import BounceInbox, BounceListener, start_bounce_listener
from mailer.store.database import create_engine, migrate, session_factory
from tests.bounce.conftest import (
    BOUNCE,
    DOMAIN,
    GUARD,
    HOST,
    RawClient,
    Sessions,
    StartListener,
    dot_stuffed,
    open_transaction,
    stored,
)
from tests.support.databases import temporary_database


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
