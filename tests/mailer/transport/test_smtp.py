"""SmtpTransport against real aiosmtpd servers on loopback: outcomes, pooling, TLS, AUTH."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mailer.transport.base import Envelope, Outcome, SendResult
from mailer.transport.smtp import SmtpConfig, SmtpTransport
from tests.support.smtp_servers import (
    Faults,
    SmtpTestServer,
    TlsFiles,
    free_port,
    make_tls_files,
    running_smtp_server,
)

pytestmark = pytest.mark.integration

SENDER = "bounces+inv-42@mail.example.com"
ALICE = "alice@example.org"
BOB = "bob@example.org"
MESSAGE = (
    b"Message-ID: <inv-42@mail.example.com>\r\n"
    b"From: Billing <billing@example.com>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: Invoice 42\r\n"
    b"\r\n"
    b"Your invoice is attached.\r\n"
    b".a line that starts with a dot\r\n"
)
SHORT_TIMEOUT = 0.5
PASSWORD = "s3cret/p@ss:word"

MakeTransport = Callable[[SmtpConfig], SmtpTransport]


def envelope(*recipients: str, sender: str = SENDER) -> Envelope:
    return Envelope(sender, recipients or (ALICE,))


def outcomes(result: SendResult) -> dict[str, Outcome]:
    return {r.recipient: r.outcome for r in result.recipients}


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def server() -> AsyncIterator[SmtpTestServer]:
    async with running_smtp_server() as running:
        yield running


@pytest.fixture
async def make_transport() -> AsyncIterator[MakeTransport]:
    """Build transports; all are closed at teardown."""
    made: list[SmtpTransport] = []

    def make(config: SmtpConfig) -> SmtpTransport:
        made.append(SmtpTransport(config))
        return made[-1]

    yield make
    for transport in made:
        await transport.aclose()


def config_for(server: SmtpTestServer, **overrides: Any) -> SmtpConfig:
    options: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "tls": "implicit" if server.tls == "implicit" else "none",
        "timeout": 5.0,
        "local_hostname": "client.test",
    }
    return SmtpConfig(**(options | overrides))


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


# --- 421, drops, hangs, refusals to connect -----------------------------------------------


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


# --- TLS and AUTH -------------------------------------------------------------------------


async def test_starttls_required_but_not_offered_fails_closed(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    result = await make_transport(config_for(server, tls="starttls_required")).send(
        envelope(), MESSAGE
    )

    assert outcomes(result) == {ALICE: Outcome.TEMPORARY_FAILURE}
    assert "STARTTLS" in result.recipients[0].detail
    assert server.messages == []


async def test_credentials_turn_opportunistic_starttls_into_required(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    config = config_for(server, tls="starttls", username="user", password=SecretStr(PASSWORD))
    transport = make_transport(config)

    result = await transport.send(envelope(), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.TEMPORARY_FAILURE}
    assert PASSWORD not in result.recipients[0].detail
    assert server.messages == []


async def test_opportunistic_starttls_falls_back_to_plaintext_without_credentials(
    server: SmtpTestServer, make_transport: MakeTransport
) -> None:
    result = await make_transport(config_for(server, tls="starttls")).send(envelope(), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.ACCEPTED}
    assert server.messages[0].tls is False


@pytest.mark.parametrize("mode", ["starttls", "starttls_required"])
async def test_starttls_with_a_trusted_certificate(
    tls_files: TlsFiles, make_transport: MakeTransport, mode: str
) -> None:
    async with running_smtp_server(
        tls="starttls", tls_files=tls_files, require_starttls=True
    ) as server:
        transport = make_transport(config_for(server, tls=mode, ca_file=tls_files.ca_cert))
        result = await transport.send(envelope(), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.ACCEPTED}
    assert server.messages[0].tls is True


async def test_implicit_tls_with_a_trusted_certificate(
    tls_files: TlsFiles, make_transport: MakeTransport
) -> None:
    async with running_smtp_server(tls="implicit", tls_files=tls_files) as server:
        transport = make_transport(config_for(server, ca_file=tls_files.ca_cert))
        result = await transport.send(envelope(), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.ACCEPTED}
    assert server.messages[0].tls is True


@pytest.mark.parametrize("server_tls", ["starttls", "implicit"])
async def test_untrusted_certificate_is_a_temporary_tls_failure(
    tls_files: TlsFiles, make_transport: MakeTransport, server_tls: Any
) -> None:
    async with running_smtp_server(tls=server_tls, tls_files=tls_files) as server:
        mode = "implicit" if server_tls == "implicit" else "starttls"
        [result] = (
            await make_transport(config_for(server, tls=mode)).send(envelope(), MESSAGE)
        ).recipients
        assert server.messages == []

    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert "certificate" in result.detail.lower()


@pytest.mark.parametrize("server_tls", ["starttls", "implicit"])
async def test_auth_over_tls(
    tls_files: TlsFiles, make_transport: MakeTransport, server_tls: Any
) -> None:
    async with running_smtp_server(
        tls=server_tls, tls_files=tls_files, credentials={"user": PASSWORD}
    ) as server:
        url = server.url(username="user", password=PASSWORD, local_hostname="c.test")
        config = replace(SmtpConfig.from_url(url), ca_file=tls_files.ca_cert)
        transport = make_transport(config)
        result = await transport.send(envelope(), MESSAGE)

    assert outcomes(result) == {ALICE: Outcome.ACCEPTED}
    assert (server.messages[0].tls, server.messages[0].login) == (True, "user")


async def test_wrong_password_is_permanent_with_the_server_reply(
    tls_files: TlsFiles, make_transport: MakeTransport
) -> None:
    async with running_smtp_server(
        tls="starttls", tls_files=tls_files, credentials={"user": "right"}
    ) as server:
        config = config_for(
            server,
            tls="starttls_required",
            username="user",
            password=SecretStr(PASSWORD),
            ca_file=tls_files.ca_cert,
        )
        transport = make_transport(config)
        [result] = (await transport.send(envelope(), MESSAGE)).recipients

    assert (result.outcome, result.smtp_code, result.enhanced_status) == (
        Outcome.PERMANENT_FAILURE,
        535,
        "5.7.8",
    )
    assert "535" in result.detail
    assert PASSWORD not in result.detail


async def test_missing_ca_file_is_a_temporary_failure_not_an_exception(
    server: SmtpTestServer, make_transport: MakeTransport, tmp_path: Path
) -> None:
    config = config_for(server, tls="starttls", ca_file=tmp_path / "missing.pem")

    [result] = (await make_transport(config).send(envelope(), MESSAGE)).recipients

    assert result.outcome is Outcome.TEMPORARY_FAILURE
    assert "TLS setup" in result.detail
    assert server.connections == 0
