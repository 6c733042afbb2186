"""SmtpTransport's STARTTLS, implicit TLS and AUTH against loopback aiosmtpd servers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mailer.transport.base import Outcome
from mailer.transport.smtp import SmtpConfig
from tests.mailer.transport.conftest import (
    ALICE,
    MESSAGE,
    PASSWORD,
    MakeTransport,
    config_for,
    envelope,
    outcomes,
)
from tests.support.smtp_servers import SmtpTestServer, TlsFiles, running_smtp_server

pytestmark = pytest.mark.integration


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
