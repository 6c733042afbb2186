"""Tenants' stored settings drive real sends: their own server with TLS and login, their domain."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import pytest
from sqlalchemy import select

from mailer import domain_service, tenant_settings
from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer
from mailer.secrets import SecretBox, generate_secret_key
from mailer.store.database import create_engine, migrate
from mailer.store.domain_models import DomainStatus, KeyState
from mailer.store.inbox_models import ThreadEntry
from mailer.store.tenant_models import TenantSending
from mailer.tenant_directory import StoredDirectory
from mailer.tenant_schemas import SendingSettingsInput
from tests.conftest import load_example
from tests.support.pipeline import Pipeline, ScriptedTransport, build_pipeline
from tests.support.smtp_servers import TlsFiles, make_tls_files, running_smtp_server

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.parse(generate_secret_key())


@pytest.fixture
async def setup(
    tmp_path: Path, pdfs: PdfRenderer, renderer: EmailRenderer, box: SecretBox, tls_files: TlsFiles
) -> AsyncIterator[tuple[Pipeline, StoredDirectory]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}")
    await migrate(engine)
    directory = StoredDirectory(box, smtp_timeout=5, ca_file=tls_files.ca_cert)
    pipeline = build_pipeline(engine, ScriptedTransport(), pdfs, renderer, directory=directory)
    try:
        yield pipeline, directory
    finally:
        await directory.aclose()
        await engine.dispose()


async def _own_server(pipeline: Pipeline, box: SecretBox, port: int, password: str) -> None:
    body = SendingSettingsInput.model_validate({
        "mode": "own_smtp", "smtp_host": "localhost", "smtp_port": port,
        "smtp_tls": "starttls_required", "smtp_username": "acme", "password": password,
        "from_email": "billing@acme.example", "from_name": "Acme AR", "on_auth_failure": "hold",
    })  # fmt: skip
    async with pipeline.sessions() as session:
        await tenant_settings.put_sending(session, box, "acme", body, NOW)


def _event(**changes: object) -> str:
    return json.dumps(load_example("invoice.reminder") | {"attach_pdf": False} | changes)


async def test_mail_goes_through_the_firms_server_over_tls_with_its_login(
    setup: tuple[Pipeline, StoredDirectory], box: SecretBox, tls_files: TlsFiles
) -> None:
    pipeline, _ = setup
    async with running_smtp_server(tls="starttls", tls_files=tls_files,
                                   credentials={"acme": "s3cret"}) as server:  # fmt: skip
        await _own_server(pipeline, box, server.port, "s3cret")
        await pipeline.dispatcher.submit(_event())
    [received] = server.messages
    assert (received.tls, received.login, received.sender) == (True, "acme", "billing@acme.example")
    assert b"From: Acme AR <billing@acme.example>" in received.data
    assert pipeline.transport.sent == []  # type: ignore[attr-defined]
    assert pipeline.statuses() == ["queued", "sent"]


async def test_a_wrong_password_marks_the_settings_broken_and_holds_the_mail(
    setup: tuple[Pipeline, StoredDirectory], box: SecretBox, tls_files: TlsFiles
) -> None:
    pipeline, _ = setup
    async with running_smtp_server(tls="starttls", tls_files=tls_files,
                                   credentials={"acme": "s3cret"}) as server:  # fmt: skip
        await _own_server(pipeline, box, server.port, "wrong")
        await pipeline.dispatcher.submit(_event())
        pipeline.clock.now += timedelta(minutes=5)
        await pipeline.dispatcher.run_due()
        attempts = server.connections
    assert server.messages == [] and attempts == 1  # held: the server is not tried again
    async with pipeline.sessions() as session:
        row = (await session.execute(select(TenantSending))).scalar_one()
        notes = await session.execute(select(ThreadEntry).where(ThreadEntry.direction == "note"))
        [note] = notes.scalars().all()
    assert row.broken_at is not None and "535" in (row.broken_reason or "")
    assert "refused our login" in note.body_text and "wrong" not in note.body_text
    assert pipeline.statuses()[-1] == "deferred"
    assert all("wrong" not in (s.detail or "") for s in pipeline.publisher.statuses)


async def test_a_verified_custom_domain_is_signed_with_its_active_key(
    setup: tuple[Pipeline, StoredDirectory], box: SecretBox
) -> None:
    pipeline, _ = setup
    async with pipeline.sessions() as session:
        domain = await domain_service.add_domain(session, box, "acme", "acme.example", now=NOW)
        domain.status, domain.verified_at = DomainStatus.VERIFIED, NOW
        [key] = domain.keys
        key.state, key.activated_at = KeyState.ACTIVE, NOW
        selector, public_txt = key.selector, key.public_txt
        await session.commit()
    await pipeline.dispatcher.submit(_event(**{"from": {"email": "ar@acme.example"}}))
    [(envelope, raw)] = pipeline.transport.sent  # type: ignore[attr-defined]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["From"].addresses[0].addr_spec == "ar@acme.example"
    assert envelope.sender.endswith("@bounces.mailer.test")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{selector}._domainkey.acme.example.".encode()
        return public_txt.encode()

    assert dkim.verify(raw, dnsfunc=dns)
    await pipeline.dispatcher.submit(_event(id="evt-2", **{"from": {"email": "ar@globex.example"}}))
    assert pipeline.statuses()[-1] == "rejected"
