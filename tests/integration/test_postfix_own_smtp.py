"""A firm's own SMTP server, for real: Postfix on loopback with STARTTLS and Cyrus SASL AUTH."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import pytest
from pydantic import SecretStr

from mailer.smtp_probe import ProbeOutcome, ProbeVerdict, describe
from mailer.transport.base import Envelope, SendResult
from mailer.transport.smtp import SmtpConfig, SmtpTransport
from tests.integration.conftest import wait_for
from tests.support.postfix import Submission, running_postfix, session_commands
from tests.support.smtp_servers import (
    SmtpTestServer,
    TlsFiles,
    free_port,
    make_tls_files,
    running_smtp_server,
)

pytestmark = pytest.mark.integration
FIRM_HOST = "smtp.acme.example"
LOGIN = "acme-billing"
SASL_USER = f"{LOGIN}@{FIRM_HOST}"  # Cyrus qualifies the login with the realm (the host name)
PASSWORD = "Corr3ct-H0rse-7f3a!"
WRONG_PASSWORD = "Wr0ng-H0rse-91c2!"
RECIPIENT = "customer@example.org"
ENVELOPE = Envelope("billing@acme.example", (RECIPIENT,))
MESSAGE = (
    b"From: billing@acme.example\r\nTo: customer@example.org\r\n"
    b"Subject: Invoice INV-1\r\nMessage-ID: <own-smtp-1@acme.example>\r\n\r\nhello\r\n"
)


@dataclass(frozen=True)
class FirmServer:
    """The firm's Postfix, its log, and the sink that stands for the rest of the internet."""

    port: int
    maillog: Path
    sink: SmtpTestServer

    def config(self, tls_files: TlsFiles, password: str | None = PASSWORD) -> SmtpConfig:
        """How a tenant would configure us for this server: STARTTLS required, private CA."""
        return SmtpConfig(
            host="127.0.0.1",
            port=self.port,
            tls="starttls_required",
            username=LOGIN if password is not None else None,
            password=SecretStr(password) if password is not None else None,
            timeout=10,
            ca_file=tls_files.ca_cert,
        )

    async def sessions(self, count: int) -> list[str]:
        """Command counts of the finished SMTP sessions, once Postfix logged ``count``."""
        try:
            await wait_for(lambda: len(session_commands(self.maillog)) >= count, timeout=15)
        except AssertionError:
            raise AssertionError(self.log()[-4000:]) from None
        return session_commands(self.maillog)

    def log(self) -> str:
        return self.maillog.read_text() if self.maillog.exists() else ""


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@asynccontextmanager
async def firm_server(*, starttls: TlsFiles | None) -> AsyncIterator[FirmServer]:
    """Postfix as a submission server for LOGIN/PASSWORD, relaying example.org to a sink."""
    port = free_port()
    submission = Submission(users={LOGIN: PASSWORD}, tls_files=starttls)
    async with (
        running_smtp_server() as sink,
        running_postfix(
            port=port,
            routes={"example.org": sink.port},
            hostname=FIRM_HOST,
            submission=submission,
        ) as maillog,
    ):
        yield FirmServer(port, maillog, sink)


async def _probe(config: SmtpConfig) -> tuple[ProbeOutcome, SendResult]:
    transport = SmtpTransport(config)
    try:
        result = await transport.send(ENVELOPE, MESSAGE)
    finally:
        await transport.aclose()
    return describe(result), result


def _assert_no_secret(*texts: str) -> None:
    """No password, nor the AUTH PLAIN or LOGIN encoding of it, appears in any of ``texts``."""
    for password in (PASSWORD, WRONG_PASSWORD):
        plain = base64.b64encode(f"\0{LOGIN}\0{password}".encode()).decode()
        login = base64.b64encode(password.encode()).decode()
        for text in texts:
            assert password not in text and plain not in text and login not in text


async def test_good_password_is_accepted_over_tls_and_relayed(tls_files: TlsFiles) -> None:
    async with firm_server(starttls=tls_files) as firm:
        outcome, result = await _probe(firm.config(tls_files))
        assert outcome.verdict is ProbeVerdict.ACCEPTED, outcome.detail + firm.log()[-3000:]
        try:
            await wait_for(lambda: bool(firm.sink.messages), timeout=30)
        except AssertionError:
            raise AssertionError(firm.log()[-4000:]) from None
        [session] = await firm.sessions(1)
        log = firm.log()

    [received] = firm.sink.messages
    assert received.recipients == (RECIPIENT,)
    assert received.sender == ENVELOPE.sender
    header, _, body = received.data.partition(b"\r\n\r\n")
    headers = header.decode()
    assert b"hello" in body and "Message-ID: <own-smtp-1@acme.example>" in headers
    # Postfix's own Received header: our leg used TLS and AUTH (ESMTPSA = ESMTP + TLS + AUTH).
    assert "with ESMTPSA" in headers and "using TLSv1." in headers
    assert f"(Authenticated sender: {SASL_USER})" in headers
    assert "starttls=1" in session and "auth=1" in session and "data=1" in session
    assert f"sasl_method=PLAIN, sasl_username={SASL_USER}" in log
    assert "TLS connection established from localhost[127.0.0.1]" in log
    _assert_no_secret(outcome.detail, outcome.summary, repr(outcome), repr(result), log)


async def test_wrong_password_is_refused_and_nothing_is_relayed(tls_files: TlsFiles) -> None:
    async with firm_server(starttls=tls_files) as firm:
        outcome, result = await _probe(firm.config(tls_files, password=WRONG_PASSWORD))
        [session] = await firm.sessions(1)
        log = firm.log()

    assert outcome.verdict is ProbeVerdict.AUTH_FAILED, outcome.detail
    assert result.recipients[0].smtp_code == 535
    assert outcome.detail.startswith("AUTH: 535 5.7.8")
    # AUTH came only after STARTTLS and never succeeded (aiosmtplib tries PLAIN, then LOGIN);
    # the client gave up before MAIL FROM.
    assert "starttls=1" in session and "auth=0/" in session and "mail=" not in session
    assert "SASL PLAIN authentication failed" in log
    assert firm.sink.messages == []
    _assert_no_secret(outcome.detail, outcome.summary, repr(outcome), repr(result), log)


async def test_no_starttls_fails_closed_without_sending_auth(tls_files: TlsFiles) -> None:
    async with firm_server(starttls=None) as firm:
        # The bait: this server offers AUTH in clear text but no STARTTLS.
        plain = aiosmtplib.SMTP(hostname="127.0.0.1", port=firm.port, start_tls=False, timeout=10)
        await plain.connect()
        await plain.ehlo()
        assert plain.supports_extension("auth") and not plain.supports_extension("starttls")
        await plain.quit()

        outcome, result = await _probe(firm.config(tls_files))
        sessions = await firm.sessions(2)
        log = firm.log()

    # Postfix counts every command it received per session: no AUTH ever arrived.
    assert len(sessions) == 2 and all("auth=" not in session for session in sessions), sessions
    assert outcome.verdict is ProbeVerdict.TLS_FAILED, outcome.detail
    assert outcome.detail.startswith("STARTTLS: server does not offer STARTTLS")
    assert "lost connection after EHLO" in log and "SASL" not in log
    assert firm.sink.messages == []
    _assert_no_secret(outcome.detail, outcome.summary, repr(outcome), repr(result), log)


async def test_without_login_the_firm_server_refuses_to_relay(tls_files: TlsFiles) -> None:
    async with firm_server(starttls=tls_files) as firm:
        outcome, _ = await _probe(firm.config(tls_files, password=None))
        [session] = await firm.sessions(1)

    assert outcome.verdict is ProbeVerdict.REFUSED, outcome.detail
    assert outcome.detail.startswith("RCPT: 554 5.7.1") and "Access denied" in outcome.detail
    assert "starttls=1" in session and "auth=" not in session
    assert firm.sink.messages == []
