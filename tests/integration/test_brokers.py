"""End to end through a real broker: publish an event, get a signed email at an SMTP server."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path
from typing import Any

import dkim
import pytest

from mailer.bootstrap import running
from mailer.events import DeliveryStatus
from mailer.store import repository
from tests.conftest import load_example
from tests.integration.conftest import (
    NATS_URL,
    RABBIT_URL,
    REDIS_URL,
    make_settings,
    reset_broker,
    status_listener,
    wait_for,
)
from tests.support.databases import temporary_database
from tests.support.smtp_servers import running_smtp_server

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("broker_url", "database"),
    [
        (None, "sqlite"),
        (NATS_URL, "sqlite"),
        (RABBIT_URL, "sqlite"),
        (REDIS_URL, "sqlite"),
        (NATS_URL, "postgresql"),
    ],
    ids=["embedded", "nats", "rabbitmq", "redis", "nats-postgresql"],
)
async def test_event_becomes_one_signed_email_and_statuses(
    tmp_path: Path, dkim_key: tuple[Path, str], broker_url: str | None, database: str
) -> None:
    key_file, txt_record = dkim_key
    if broker_url:
        await reset_broker(broker_url)
    async with running_smtp_server() as relay, temporary_database(database, tmp_path) as db_url:
        settings = make_settings(
            tmp_path,
            broker_url=broker_url,
            database_url=db_url,
            relay_url=relay.url(),
            dkim_domain="mailer.test",
            dkim_selector="s2026",
            dkim_private_key_file=key_file,
        )
        async with (
            running(settings, consume=True) as runtime,
            status_listener(runtime.broker_url) as statuses,
        ):
            event = load_example("invoice.new")
            body = json.dumps(event).encode()
            await runtime.publisher.publish_send(body)
            await runtime.publisher.publish_send(body)  # published twice: still one email
            await runtime.publisher.publish_send(b'{"id": "broken", "tenant": "acme"')
            second = load_example("payment.receipt")
            await runtime.publisher.publish_send(json.dumps(second).encode())

            await wait_for(lambda: len(relay.messages) >= 2)
            await wait_for(lambda: sum(s.status is DeliveryStatus.SENT for s in statuses) >= 2)
            await wait_for(lambda: any(s.status is DeliveryStatus.REJECTED for s in statuses))

            async with runtime.sessions() as session:
                history = await repository.status_history(session, "acme", event["id"])
            assert [record.status for record in history] == ["queued", "sent"]

    assert len(relay.messages) == 2
    first = relay.messages[0] if b"INV-10001" in relay.messages[0].data else relay.messages[1]
    assert first.recipients == ("customer1@example.org",)
    assert first.sender.startswith("bounces+") and first.sender.endswith("@bounces.mailer.test")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s2026._domainkey.mailer.test."
        return txt_record.encode()

    assert dkim.verify(first.data, dnsfunc=dns)
    message = email.message_from_bytes(first.data, policy=email.policy.default)
    [pdf] = list(message.iter_attachments())
    assert pdf.get_content().startswith(b"%PDF-")
    rejected = [s for s in statuses if s.status is DeliveryStatus.REJECTED]
    assert rejected[0].detail and "not valid JSON" in rejected[0].detail
    sent: dict[Any, int] = {}
    for status in statuses:
        if status.status is DeliveryStatus.SENT:
            sent[status.request_id] = sent.get(status.request_id, 0) + 1
    assert sent == {event["id"]: 1, second["id"]: 1}
