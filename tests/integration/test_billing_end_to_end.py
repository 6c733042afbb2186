"""The whole flow over HTTP: invoice issued, emailed with its PDF after the grace delay, paid in
two parts, with a receipt for each payment and a thank-you once paid."""

from __future__ import annotations

import contextlib
import email
import email.policy
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import select

from billing.broker import BILLING_STREAM
from billing.models import Notification
from mailer.api import create_api
from mailer.bootstrap import Runtime, running
from mailer.sms.broker import SMS_STREAM
from tests.integration.conftest import NATS_URL, make_settings, reset_broker, wait_for
from tests.support.smtp_servers import SmtpTestServer, running_smtp_server

pytestmark = pytest.mark.integration

GRACE_SECONDS = 3


async def forget_billing_streams() -> None:
    await reset_broker(NATS_URL)
    client = await nats.connect(NATS_URL)
    for stream in (BILLING_STREAM, SMS_STREAM):
        with contextlib.suppress(Exception):
            await client.jetstream().delete_stream(stream)
    await client.close()


@contextlib.asynccontextmanager
async def service(
    tmp_path: Path,
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient, SmtpTestServer]]:
    await forget_billing_streams()
    async with running_smtp_server() as relay:
        settings = make_settings(
            tmp_path,
            broker_url=NATS_URL,
            relay_url=relay.url(),
            billing_interval=0.2,
            billing_relay_interval=0.1,
        )
        async with running(settings, consume=True) as runtime:
            app = create_api(runtime)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://mailer", params={"tenant": "acme"}
            ) as client:
                yield runtime, client, relay


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def pdf_of(message: EmailMessage) -> bytes:
    [attachment] = [part for part in message.iter_attachments()]
    assert attachment.get_content_type() == "application/pdf"
    content = attachment.get_content()
    assert isinstance(content, bytes)
    return content


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_invoice_to_payment_over_http(tmp_path: Path) -> None:
    async with service(tmp_path) as (runtime, client, relay):
        await ok(
            await client.put(
                "/api/billing/settings",
                json={
                    "company_name": "Acme Bookkeeping",
                    "company_email": "billing@acme.example",
                    "auto_send_invoice": True,
                    "auto_send_grace_seconds": GRACE_SECONDS,
                },
            )
        )
        await ok(
            await client.put(
                "/api/billing/reminders",
                json={"thank_you_enabled": True, "receipts_enabled": True},
            )
        )
        customer = await ok(
            await client.post(
                "/api/customers",
                json={"name": "Customer 1", "email": "customer1@example.org", "currency": "EUR"},
            ),
            201,
        )
        draft = await ok(
            await client.post(
                "/api/invoices",
                json={
                    "customer_id": customer["id"],
                    "lines": [
                        {"description": "Bookkeeping", "quantity": "3", "unit_price": "150.00"}
                    ],
                    "tax_rate": "20",
                },
            ),
            201,
        )
        invoice = await ok(await client.post(f"/api/invoices/{draft['id']}/issue"))
        assert (invoice["number"], invoice["total"], invoice["state"]) == (
            "INV-0001",
            "540.00",
            "issued",
        )
        assert relay.messages == []  # the grace delay is still running

        await wait_for(lambda: len(relay.messages) == 1, timeout=GRACE_SECONDS + 30)
        new_invoice = parsed(relay.messages[0].data)
        assert new_invoice["To"].addresses[0].addr_spec == "customer1@example.org"
        assert "INV-0001" in new_invoice["Subject"]
        download = await client.get(f"/api/invoices/{invoice['id']}/pdf")
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/pdf"
        assert download.content == pdf_of(new_invoice)  # the very PDF the email attached

        partial = await ok(
            await client.post(
                f"/api/invoices/{invoice['id']}/payments",
                json={"amount": "200.00", "method": "card"},
            ),
            201,
        )
        assert partial["amount"] == "200.00"
        await wait_for(lambda: len(relay.messages) == 2, timeout=30)
        middle = await ok(await client.get(f"/api/invoices/{invoice['id']}"))
        assert (middle["state"], middle["balance"]) == ("partially_paid", "340.00")

        await ok(
            await client.post(
                f"/api/invoices/{invoice['id']}/payments",
                json={"amount": "340.00", "method": "echeck"},
            ),
            201,
        )
        await wait_for(lambda: len(relay.messages) == 4, timeout=30)
        paid = await ok(await client.get(f"/api/invoices/{invoice['id']}"))
        assert (paid["state"], paid["balance"]) == ("paid", "0.00")

        async def all_reported_sent() -> bool:
            async with runtime.sessions() as session:
                rows = (await session.execute(select(Notification))).scalars().all()
            return len(rows) == 4 and all(row.status == "sent" for row in rows)

        await wait_for(all_reported_sent, timeout=30)  # mail.status came back to billing
        async with runtime.sessions() as session:
            templates = sorted(
                row.template for row in (await session.execute(select(Notification))).scalars()
            )

    assert templates == [
        "invoice.new",
        "invoice.thank_you",
        "payment.receipt",
        "payment.receipt",
    ]
    receipts = [parsed(m.data) for m in relay.messages[1:]]
    assert all(
        message["To"].addresses[0].addr_spec == "customer1@example.org" for message in receipts
    )
    assert sum(1 for message in receipts if message.get_content_type() == "multipart/mixed") >= 2
