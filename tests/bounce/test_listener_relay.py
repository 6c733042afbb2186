"""The bounce listener's recipient rules: relay attempts, unknown mailboxes, pipelining."""

from __future__ import annotations

import pytest

from bounce.listener import BounceListener
from tests.bounce.conftest import BOUNCE, DOMAIN, RawClient, Sessions, open_transaction, stored

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
