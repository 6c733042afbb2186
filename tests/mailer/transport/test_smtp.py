"""SmtpTransport against real aiosmtpd servers on loopback: delivery, pooling, refusals."""

from __future__ import annotations

import asyncio

import pytest

from mailer.transport.base import Envelope, Outcome
from tests.mailer.transport.conftest import (
    ALICE,
    BOB,
    MESSAGE,
    SENDER,
    MakeTransport,
    config_for,
    envelope,
    outcomes,
)
from tests.support.smtp_servers import Faults, SmtpTestServer, running_smtp_server

pytestmark = pytest.mark.integration


# --- success and pooling ------------------------------------------------------------------


async def test_delivers_the_bytes_to_the_envelope(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    result = await make_transport(config_for(server)).send(envelope(ALICE, BOB), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.ACCEPTED, BOB: Outcome.ACCEPTED}
    assert {(r.smtp_code, r.enhanced_status) for r in result.recipients} == {(250, "2.0.0")}
    [received] = server.messages
    assert (received.sender, received.recipients) == (SENDER, (ALICE, BOB))
    assert received.data == MESSAGE
    assert f"SIZE={len(MESSAGE)}" in received.mail_options


async def test_sequential_sends_reuse_one_connection(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(config_for(server, max_connections=3))

    results = [await transport.send(envelope(), MESSAGE) for _ in range(5)]

    assert all(outcomes(r) == {ALICE: Outcome.ACCEPTED} for r in results)
    assert len(server.messages) == 5
    assert server.connections == 1


async def test_concurrent_sends_open_at_most_max_connections(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(config_for(server, max_connections=3))

    results = await asyncio.gather(*(transport.send(envelope(), MESSAGE) for _ in range(12)))

    assert all(outcomes(r) == {ALICE: Outcome.ACCEPTED} for r in results)
    assert len(server.messages) == 12
    assert 1 <= server.connections <= 3


async def test_aclose_quits_pooled_connections_and_refuses_new_sends(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(config_for(server, max_connections=2))
    await asyncio.gather(*(transport.send(envelope(), MESSAGE) for _ in range(4)))

    await transport.aclose()
    result = await transport.send(envelope(), MESSAGE)

    assert server.quits == server.connections
    assert outcomes(result) == {ALICE: Outcome.TEMPORARY_FAILURE}


async def test_a_connection_the_server_dropped_is_replaced_transparently(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(config_for(server))
    await transport.send(envelope(), MESSAGE)

    server.drop_connections()
    result = await transport.send(envelope(), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.ACCEPTED}
    assert server.connections == 2


async def test_max_idle_zero_disables_reuse(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(config_for(server, max_idle=0))

    for _ in range(2):
        await transport.send(envelope(), MESSAGE)

    assert server.connections == 2
    assert server.quits == 1


async def test_null_sender_for_bounces(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    result = await make_transport(config_for(server)).send(envelope(sender=""), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.ACCEPTED}
    assert server.messages[0].sender == "<>"  # aiosmtpd's rendering of the null path


async def test_no_recipients_means_no_session(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    result = await make_transport(config_for(server)).send(Envelope(SENDER, ()), MESSAGE)

    assert result.recipients == ()
    assert server.connections == 0


# --- refusals -----------------------------------------------------------------------------


async def test_one_refused_recipient_does_not_stop_the_others(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    server.faults.rcpt[BOB] = "550 5.1.1 <bob@example.org>: Recipient address rejected"

    result = await make_transport(config_for(server)).send(envelope(ALICE, BOB), MESSAGE)

    alice, bob = result.recipients
    assert alice.outcome is Outcome.ACCEPTED
    assert (bob.outcome, bob.smtp_code, bob.enhanced_status) == (
        Outcome.PERMANENT_FAILURE,
        550,
        "5.1.1",
    )
    assert "Recipient address rejected" in bob.detail
    assert server.messages[0].recipients == (ALICE,)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (450, Outcome.TEMPORARY_FAILURE),
        (451, Outcome.TEMPORARY_FAILURE),
        (452, Outcome.TEMPORARY_FAILURE),
        (550, Outcome.PERMANENT_FAILURE),
        (553, Outcome.PERMANENT_FAILURE),
        (554, Outcome.PERMANENT_FAILURE),
    ],
)
@pytest.mark.parametrize("stage", ["mail", "rcpt", "data_command", "data"])
async def test_reply_codes_map_to_outcomes_at_every_stage(
    server: SmtpTestServer,
    make_transport: MakeTransport,
    stage: str,
    code: int,
    expected: Outcome,
) -> None:
    reply = f"{code} {code // 100}.0.0 Refused at {stage}"
    if stage == "rcpt":
        server.faults.rcpt = {ALICE: reply, BOB: reply}
    else:
        setattr(server.faults, stage, reply)
    transport = make_transport(config_for(server))

    result = await transport.send(envelope(ALICE, BOB), MESSAGE)

    assert outcomes(result) == {ALICE: expected, BOB: expected}
    assert {(r.smtp_code, r.enhanced_status) for r in result.recipients} == {
        (code, f"{code // 100}.0.0")
    }
    assert server.messages == []
    # The session was reset, not dropped: the next message goes over the same connection.
    server.faults = Faults()
    assert outcomes(await transport.send(envelope(), MESSAGE)) == {ALICE: Outcome.ACCEPTED}
    assert server.connections == 1


async def test_enhanced_status_and_retry_hint_come_from_the_reply(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    server.faults.rcpt[ALICE] = "450 4.2.1 Mailbox busy, please try again in 5 minutes"

    [result] = (await make_transport(config_for(server)).send(envelope(), MESSAGE)).recipients

    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert (result.smtp_code, result.enhanced_status, result.retry_after) == (450, "4.2.1", 300.0)


async def test_invalid_addresses_are_refused_without_asking_the_server(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    smuggler = "eve@example.org> NOTIFY=NEVER"
    result = await make_transport(config_for(server)).send(envelope(ALICE, smuggler), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.ACCEPTED, smuggler: Outcome.PERMANENT_FAILURE}
    assert server.messages[0].recipients == (ALICE,)


async def test_non_ascii_recipient_needs_smtputf8(make_transport: MakeTransport) -> None:
    jose = "josé@example.org"
    async with running_smtp_server() as plain, running_smtp_server(smtputf8=True) as modern:
        refused = await make_transport(config_for(plain)).send(envelope(ALICE, jose), MESSAGE)
        accepted = await make_transport(config_for(modern)).send(envelope(jose), MESSAGE)

    assert outcomes(refused) == {ALICE: Outcome.ACCEPTED, jose: Outcome.PERMANENT_FAILURE}
    assert "SMTPUTF8" in refused.recipients[1].detail
    assert outcomes(accepted) == {jose: Outcome.ACCEPTED}
    assert "SMTPUTF8" in modern.messages[0].mail_options
