"""The pipeline sends from the address and through the road the tenant's settings choose."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from mailer.dkim import DkimSigner
from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer
from mailer.senders import TenantSender
from mailer.store.database import create_engine, migrate
from mailer.store.inbox_models import ThreadEntry
from tests.conftest import load_example
from tests.support.pipeline import FakeDirectory, Pipeline, ScriptedTransport, build_pipeline


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
async def pipeline(
    tmp_path: Path, pdfs: PdfRenderer, renderer: EmailRenderer, directory: FakeDirectory
) -> AsyncIterator[Pipeline]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'mailer.db'}")
    await migrate(engine)
    try:
        yield build_pipeline(engine, ScriptedTransport(), pdfs, renderer, directory=directory)
    finally:
        await engine.dispose()


def _event(**changes: object) -> str:
    return json.dumps(load_example("invoice.reminder") | {"attach_pdf": False} | changes)


async def test_an_unverified_from_is_rejected_and_nothing_is_sent(pipeline: Pipeline) -> None:
    outcome = await pipeline.dispatcher.submit(_event(**{"from": {"email": "ar@acme.example"}}))
    assert outcome.status is not None and outcome.status.value == "rejected"
    assert "acme.example is not a verified sending domain" in (outcome.detail or "")
    assert pipeline.transport.sent == []  # type: ignore[attr-defined]
    assert pipeline.statuses() == ["rejected"]


async def test_a_verified_custom_domain_signs_with_the_firms_key(
    pipeline: Pipeline, directory: FakeDirectory
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    signer = DkimSigner("acme.example", "mailer202611", pem)
    directory.domains["acme"] = frozenset({"acme.example"})
    directory.signers[("acme", "acme.example")] = signer
    await pipeline.dispatcher.submit(_event(**{"from": {"email": "ar@acme.example", "name": "AR"}}))
    [(envelope, raw)] = pipeline.transport.sent  # type: ignore[attr-defined]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["From"].addresses[0].addr_spec == "ar@acme.example"
    assert envelope.sender.endswith("@bounces.mailer.test")  # bounces still come home

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"mailer202611._domainkey.acme.example."
        return signer.public_key_dns_record().encode()

    assert dkim.verify(raw, dnsfunc=dns)


async def test_own_smtp_uses_the_firms_server_and_address(
    pipeline: Pipeline, directory: FakeDirectory
) -> None:
    own = ScriptedTransport()
    directory.senders["acme"] = TenantSender(own_smtp=True, from_email="billing@acme.example",
                                             from_name="Acme AR", custom_domain=None)  # fmt: skip
    directory.servers["acme"] = own
    await pipeline.dispatcher.submit(_event())
    assert pipeline.transport.sent == []  # type: ignore[attr-defined]
    [(envelope, raw)] = own.sent
    assert envelope.sender == "billing@acme.example"  # bounces go to the firm's own mailbox
    assert b"From: Acme AR <billing@acme.example>" in raw
    assert pipeline.statuses() == ["queued", "sent"]


async def test_own_smtp_without_a_server_fails_with_the_reason(
    pipeline: Pipeline, directory: FakeDirectory
) -> None:
    directory.senders["acme"] = TenantSender(own_smtp=True, from_email="billing@acme.example",
                                             from_name=None, custom_domain=None)  # fmt: skip
    await pipeline.dispatcher.submit(_event())
    assert pipeline.statuses() == ["queued", "failed"]
    assert "own SMTP server is not configured" in (pipeline.publisher.statuses[-1].detail or "")


@pytest.mark.parametrize("fallback", [False, True], ids=["hold", "fallback"])
async def test_a_refused_login_stops_the_own_server_and_tells_staff(
    pipeline: Pipeline, directory: FakeDirectory, fallback: bool
) -> None:
    own = ScriptedTransport()
    own.login_refused_code = 535
    directory.senders["acme"] = TenantSender(own_smtp=True, from_email="billing@acme.example",
                                             from_name=None, custom_domain=None,
                                             fallback_to_shared=fallback)  # fmt: skip
    directory.servers["acme"] = own
    await pipeline.dispatcher.submit(_event())
    assert directory.senders["acme"].broken
    [deferred] = [s for s in pipeline.publisher.statuses if s.status.value == "deferred"]
    assert deferred.detail and deferred.detail.startswith("held: ")
    async with pipeline.sessions() as session:
        notes = (await session.execute(select(ThreadEntry).where(
            ThreadEntry.direction == "note"))).scalars().all()  # fmt: skip
    assert [note.subject for note in notes] == ["Sending stopped"]

    pipeline.clock.now += timedelta(minutes=2)  # past the first retry delay, within the horizon
    await pipeline.dispatcher.run_due()
    assert len(own.sent) == 1  # the broken server is not tried again
    if fallback:
        assert len(pipeline.transport.sent) == 1  # type: ignore[attr-defined]
        assert pipeline.statuses()[-1] == "sent"
    else:
        assert pipeline.transport.sent == []  # type: ignore[attr-defined]
        assert pipeline.statuses()[-1] == "deferred"


async def test_payment_emails_list_the_methods_the_firm_accepts_online(
    pipeline: Pipeline, directory: FakeDirectory
) -> None:
    directory.methods["acme"] = ("card", "echeck")
    link = load_example("payment.link") | {"locale": "fr"}
    await pipeline.dispatcher.submit(json.dumps(link))
    reminder = load_example("invoice.reminder") | {"attach_pdf": False}
    await pipeline.dispatcher.submit(json.dumps(reminder))
    first, second = (
        email.message_from_bytes(raw, policy=email.policy.default)
        for _, raw in pipeline.transport.sent  # type: ignore[attr-defined]
    )
    text = first.get_body(("plain",)).get_content()
    assert "Moyens de paiement acceptés : carte bancaire, prélèvement bancaire (eCheck)." in text
    assert "payment methods" not in second.get_body(("plain",)).get_content()
