"""Test sends against real servers, in plain words: refused, no answer, TLS, auth, accepted."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import SecretStr

from mailer.smtp_probe import ProbeVerdict, describe
from mailer.transport.base import Envelope
from mailer.transport.smtp import SmtpConfig, SmtpTransport
from tests.support.smtp_servers import (
    Faults,
    TlsFiles,
    free_port,
    make_tls_files,
    running_smtp_server,
)

pytestmark = pytest.mark.integration
MESSAGE = b"From: billing@acme.example\r\nTo: x@example.org\r\nSubject: test\r\n\r\nhello\r\n"
ENVELOPE = Envelope("billing@acme.example", ("x@example.org",))


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


async def _probe(config: SmtpConfig) -> ProbeVerdict:
    transport = SmtpTransport(config)
    try:
        outcome = describe(await transport.send(ENVELOPE, MESSAGE))
    finally:
        await transport.aclose()
    assert outcome.summary and (outcome.ok == (outcome.verdict is ProbeVerdict.ACCEPTED))
    return outcome.verdict


async def test_connection_refused() -> None:
    config = SmtpConfig(host="127.0.0.1", port=free_port(), tls="starttls_required", timeout=2)
    assert await _probe(config) is ProbeVerdict.CONNECTION_REFUSED


async def test_no_answer() -> None:
    async with running_smtp_server(faults=Faults(hang="greeting")) as server:
        config = SmtpConfig(host="127.0.0.1", port=server.port, tls="none", timeout=1)
        assert await _probe(config) is ProbeVerdict.NO_ANSWER


async def test_tls_refused_fails_closed(tls_files: TlsFiles) -> None:
    async with running_smtp_server() as server:  # offers no STARTTLS
        config = SmtpConfig(host="127.0.0.1", port=server.port, tls="starttls_required",
                            username="user", password=SecretStr("pw"), timeout=2)  # fmt: skip
        assert await _probe(config) is ProbeVerdict.TLS_FAILED
        assert server.messages == []


@pytest.mark.parametrize(
    ("password", "verdict"),
    [("right", ProbeVerdict.ACCEPTED), ("wrong", ProbeVerdict.AUTH_FAILED)],
)
async def test_login(tls_files: TlsFiles, password: str, verdict: ProbeVerdict) -> None:
    async with running_smtp_server(tls="starttls", tls_files=tls_files,
                                   credentials={"user": "right"}) as server:  # fmt: skip
        config = SmtpConfig(host="127.0.0.1", port=server.port, tls="starttls_required",
                            username="user", password=SecretStr(password), timeout=2)  # fmt: skip
        assert await _probe(replace(config, ca_file=tls_files.ca_cert)) is verdict
