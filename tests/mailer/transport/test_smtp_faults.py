"""SmtpTransport when the server fails: 421s, dropped connections, hangs, refused connects."""

from __future__ import annotations

from typing import Any

import pytest

from mailer.transport.base import Outcome
from mailer.transport.smtp import SmtpConfig
from tests.mailer.transport.conftest import (
    ALICE,
    BOB,
    MESSAGE,
    SHORT_TIMEOUT,
    MakeTransport,
    config_for,
    envelope,
    outcomes,
)
from tests.support.smtp_servers import Faults, SmtpTestServer, free_port

pytestmark = pytest.mark.integration


async def test_421_greeting_is_temporary_and_the_next_send_reconnects(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    server.faults.greeting = "421 4.3.2 Service shutting down, try again in 60 seconds"
    transport = make_transport(config_for(server))

    [first] = (await transport.send(envelope(), MESSAGE)).recipients
    server.faults.greeting = None
    second = await transport.send(envelope(), MESSAGE)

    assert (first.outcome, first.smtp_code, first.retry_after) == (
        Outcome.TEMPORARY_FAILURE,
        421,
        60.0,
    )
    assert outcomes(second) == {ALICE: Outcome.ACCEPTED}
    assert server.connections == 2


async def test_554_greeting_is_permanent(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    server.faults.greeting = "554 5.7.1 Client host blocked"

    [result] = (await make_transport(config_for(server)).send(envelope(), MESSAGE)).recipients

    assert (result.outcome, result.smtp_code) == (Outcome.PERMANENT_FAILURE, 554)


@pytest.mark.parametrize("stage", ["mail", "rcpt", "data"])
async def test_421_mid_session_closes_the_connection(
    server: SmtpTestServer, make_transport: MakeTransport, stage: str
) -> None:
    transport = make_transport(config_for(server))
    await transport.send(envelope(), MESSAGE)
    reply = "421 4.7.0 Too many messages, closing connection"
    if stage == "rcpt":
        server.faults.rcpt[ALICE] = reply
    else:
        setattr(server.faults, stage, reply)

    result = await transport.send(envelope(ALICE, BOB), MESSAGE)
    server.faults = Faults()
    after = await transport.send(envelope(), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.TEMPORARY_FAILURE, BOB: Outcome.TEMPORARY_FAILURE}
    assert {r.smtp_code for r in result.recipients} == {421}
    assert outcomes(after) == {ALICE: Outcome.ACCEPTED}
    assert server.connections == 2


async def test_refused_recipient_keeps_its_permanent_result_when_the_session_dies(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    server.faults.rcpt[ALICE] = "550 5.1.1 No such user"
    server.faults.drop_during_data = True

    result = await make_transport(config_for(server)).send(envelope(ALICE, BOB), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.PERMANENT_FAILURE, BOB: Outcome.TEMPORARY_FAILURE}


@pytest.mark.parametrize("fault", ["drop_during_data", "drop_after_dot"])
async def test_dropped_connection_is_temporary_and_the_next_send_reconnects(
    server: SmtpTestServer, make_transport: MakeTransport, fault: str
) -> None:
    setattr(server.faults, fault, True)
    transport = make_transport(config_for(server))

    [result] = (await transport.send(envelope(), MESSAGE)).recipients
    server.faults = Faults()
    after = await transport.send(envelope(), MESSAGE)

    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert "connection lost" in result.detail
    assert outcomes(after) == {ALICE: Outcome.ACCEPTED}
    assert server.connections == 2


@pytest.mark.parametrize("point", ["greeting", "MAIL", "RCPT", "DATA", "after_dot"])
async def test_a_server_that_never_answers_times_out_as_temporary(
    server: SmtpTestServer, make_transport: MakeTransport, point: Any
) -> None:
    server.faults.hang = point

    [result] = (
        await make_transport(config_for(server, timeout=SHORT_TIMEOUT)).send(envelope(), MESSAGE)
    ).recipients

    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert "timed out" in result.detail.lower()


async def test_connection_refused_is_temporary(make_transport: MakeTransport) -> None:
    port = free_port()
    transport = make_transport(SmtpConfig("127.0.0.1", port, tls="none", local_hostname="c.test"))

    [result] = (await transport.send(envelope(), MESSAGE)).recipients

    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert str(port) in result.detail
