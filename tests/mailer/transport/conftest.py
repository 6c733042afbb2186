"""Shared by the SmtpTransport tests: loopback aiosmtpd servers, transports, envelopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mailer.transport.base import Envelope, Outcome, SendResult
from mailer.transport.smtp import SmtpConfig, SmtpTransport
from tests.support.smtp_servers import SmtpTestServer, TlsFiles, make_tls_files, running_smtp_server

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
