"""The bounce listener under abuse: caps, timeouts, floods, smuggling and garbage."""

from __future__ import annotations

import asyncio

import pytest

from bounce.listener import COMMAND_CALL_LIMITS, MAX_LINE_BYTES, BounceListener
from tests.bounce.conftest import (
    BOUNCE,
    DOMAIN,
    GUARD,
    RawClient,
    Sessions,
    StartListener,
    as_received,
    open_transaction,
    stored,
)


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
