"""The test send and the health check, through a running service and a firm's real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from mailer.api import create_api
from mailer.bootstrap import Runtime, running
from mailer.secrets import SecretBox, generate_secret_key
from mailer.sending_check import check_own_servers
from mailer.tenant_directory import StoredDirectory
from tests.integration.conftest import NATS_URL, make_settings, reset_broker
from tests.support.smtp_servers import (
    SmtpTestServer,
    TlsFiles,
    make_tls_files,
    running_smtp_server,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def firm_server(tls_files: TlsFiles) -> AsyncIterator[SmtpTestServer]:
    async with running_smtp_server(
        tls="starttls", tls_files=tls_files, credentials={"acme": "s3cret"}
    ) as server:
        yield server


@pytest.fixture
async def runtime(tmp_path: Path, tls_files: TlsFiles) -> AsyncIterator[Runtime]:
    await reset_broker(NATS_URL)
    settings = make_settings(
        tmp_path,
        broker_url=NATS_URL,
        secret_key=generate_secret_key(),
        smtp_ca_file=tls_files.ca_cert,
    )
    async with running(settings, consume=True) as started:
        yield started


async def _configure(client: httpx.AsyncClient, port: int, password: str) -> None:
    answer = await client.put(
        "/api/tenants/acme/sending",
        json={
            "mode": "own_smtp",
            "smtp_host": "localhost",
            "smtp_port": port,
            "smtp_tls": "starttls_required",
            "smtp_username": "acme",
            "password": password,
            "from_email": "billing@acme.example",
        },
    )
    assert answer.status_code == 200, answer.text
    assert password not in answer.text


async def test_test_send_and_health_check_in_plain_words(
    runtime: Runtime, firm_server: SmtpTestServer
) -> None:
    transport = httpx.ASGITransport(app=create_api(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://mailer") as client:
        await _configure(client, firm_server.port, "s3cret")
        good = await client.post(
            "/api/tenants/acme/sending/test",
            json={"template": "invoice.new", "to": "me@acme.example"},
        )
        assert good.status_code == 200 and good.json()["verdict"] == "accepted", good.text
        [received] = firm_server.messages
        assert received.login == "acme" and b"Invoice-INV-10001.pdf" in received.data

        await _configure(client, firm_server.port, "wrong")
        bad = (
            await client.post(
                "/api/tenants/acme/sending/test",
                json={"template": "statement", "to": "me@acme.example"},
            )
        ).json()
        assert (bad["ok"], bad["verdict"]) == (False, "auth_failed")
        assert bad["summary"].startswith("Authentication failed") and "wrong" not in str(bad)

        directory = StoredDirectory(
            SecretBox.from_settings(runtime.settings), ca_file=runtime.settings.smtp_ca_file
        )
        try:
            assert (
                await check_own_servers(runtime.sessions, directory, lambda: datetime.now(UTC)) == 1
            )
        finally:
            await directory.aclose()
        view = (await client.get("/api/tenants/acme/sending")).json()
        assert view["last_check_ok"] is False
        assert view["last_check_detail"].startswith("Authentication failed")

        refused = await client.post(
            "/api/tenants/acme/sending/test", json={"template": "nope", "to": "me@acme.example"}
        )
        assert refused.status_code == 422
