"""Invoices: drafts, issuing with gap-free numbers, the 5-minute grace window, voiding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import invoicing
from billing.autosend import AutoSender
from billing.customers import create_customer
from billing.errors import Conflict, InvalidRequest, NotFound
from billing.firm import firm_settings
from billing.models import Invoice
from billing.schemas import CustomerInput, InvoiceInput, LineIn
from mailer.events import SEND_SUBJECT, SendEvent
from tests.billing.conftest import TENANT, FakeClock, queued

Sessions = async_sessionmaker[AsyncSession]


async def auto_send_on(sessions: Sessions, clock: FakeClock, grace_seconds: int = 300) -> None:
    async with sessions() as session, session.begin():
        settings = await firm_settings(session, TENANT, clock())
        settings.auto_send_invoice = True
        settings.auto_send_grace_seconds = grace_seconds
        settings.company_name = "Acme Bookkeeping"
        settings.company_email = "billing@acme.example"


async def new_invoice(
    sessions: Sessions, clock: FakeClock, *, issue: bool = True, **fields: object
) -> Invoice:
    async with sessions() as session, session.begin():
        customer = await create_customer(
            session,
            TENANT,
            CustomerInput(name="Customer 1", email="customer1@example.org", currency="EUR"),
            clock(),
        )
        body = InvoiceInput.model_validate(
            {
                "customer_id": customer.id,
                "lines": [
                    LineIn(description="Bookkeeping", quantity=Decimal(3), unit_price=Decimal(150))
                ],
                "tax_rate": Decimal(20),
                **fields,
            }
        )
        invoice = await invoicing.create_invoice(session, TENANT, body, clock())
        if issue:
            await invoicing.issue_invoice(session, TENANT, invoice.id, clock())
        return invoice


def invoice_sender(sessions: Sessions, clock: FakeClock) -> AutoSender:
    async def send(session: AsyncSession, tenant: str, invoice_id: int, now: object) -> object:
        return await invoicing.send_invoice(session, tenant, invoice_id, clock(), by="auto")

    return AutoSender(sessions, {"invoice": send}, clock)


async def test_an_issued_invoice_gets_a_number_totals_and_an_issued_event(
    sessions: Sessions, clock: FakeClock
) -> None:
    invoice = await new_invoice(sessions, clock)

    assert invoice.number == "INV-0001"
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("450.00"),
        Decimal("90.00"),
        Decimal("540.00"),
    )
    assert invoice.state == "issued"
    assert invoice.due_date == date(2026, 12, 2)
    [issued] = await queued(sessions, "billing.invoice.issued")
    assert issued["data"]["number"] == "INV-0001"
    assert issued["data"]["total"] == "540.00"


async def test_numbers_are_given_at_issue_so_drafts_leave_no_gaps(
    sessions: Sessions, clock: FakeClock
) -> None:
    draft = await new_invoice(sessions, clock, issue=False)
    second = await new_invoice(sessions, clock)
    async with sessions() as session, session.begin():
        await invoicing.delete_draft(session, TENANT, draft.id)
    third = await new_invoice(sessions, clock)

    assert draft.number is None
    assert (second.number, third.number) == ("INV-0001", "INV-0002")


async def test_the_automatic_email_waits_out_the_grace_delay(
    sessions: Sessions, clock: FakeClock
) -> None:
    await auto_send_on(sessions, clock)
    await new_invoice(sessions, clock)
    sender = invoice_sender(sessions, clock)

    clock.advance(minutes=4, seconds=59)
    assert await sender.run_due() == 0
    assert await queued(sessions, SEND_SUBJECT) == []

    clock.advance(seconds=1)
    assert await sender.run_due() == 1
    assert await sender.run_due() == 0
    [email] = await queued(sessions, SEND_SUBJECT)
    event = SendEvent.model_validate(email)
    assert event.template == "invoice.new"
    assert event.to[0].email == "customer1@example.org"
    assert event.data.invoice is not None and event.data.invoice.total == Decimal("540.00")


@pytest.mark.parametrize("staff_action", ["send", "mark_sent", "void"])
async def test_staff_acting_within_the_grace_window_stops_the_automatic_email(
    sessions: Sessions, clock: FakeClock, staff_action: str
) -> None:
    await auto_send_on(sessions, clock)
    invoice = await new_invoice(sessions, clock)
    clock.advance(minutes=2)
    async with sessions() as session, session.begin():
        if staff_action == "send":
            await invoicing.send_invoice(session, TENANT, invoice.id, clock())
        elif staff_action == "mark_sent":
            await invoicing.mark_sent(session, TENANT, invoice.id, clock())
        else:
            await invoicing.void_invoice(session, TENANT, invoice.id, clock())

    clock.advance(minutes=10)
    assert await invoice_sender(sessions, clock).run_due() == 0
    emails = await queued(sessions, SEND_SUBJECT)
    assert len(emails) == (1 if staff_action == "send" else 0)


async def test_a_future_dated_invoice_is_sent_on_its_issue_date(
    sessions: Sessions, clock: FakeClock
) -> None:
    await auto_send_on(sessions, clock)
    await new_invoice(sessions, clock, issue_date=date(2026, 11, 5))
    sender = invoice_sender(sessions, clock)

    clock.advance(days=2)  # 2026-11-04 09:00
    assert await sender.run_due() == 0
    clock.advance(hours=15)  # 2026-11-05 00:00 UTC
    assert await sender.run_due() == 1
    assert len(await queued(sessions, SEND_SUBJECT)) == 1


async def test_without_the_trigger_nothing_is_sent_automatically(
    sessions: Sessions, clock: FakeClock
) -> None:
    await new_invoice(sessions, clock)
    clock.advance(hours=1)
    assert await invoice_sender(sessions, clock).run_due() == 0
    assert await queued(sessions, SEND_SUBJECT) == []


async def test_two_schedulers_send_the_automatic_email_once(
    sessions: Sessions, clock: FakeClock
) -> None:
    await auto_send_on(sessions, clock)
    for _ in range(5):
        await new_invoice(sessions, clock)
    clock.advance(minutes=6)
    first, second = invoice_sender(sessions, clock), invoice_sender(sessions, clock)

    import asyncio

    counts = await asyncio.gather(first.run_due(), second.run_due())

    assert sum(counts) == 5
    ids = [email["id"] for email in await queued(sessions, SEND_SUBJECT)]
    assert len(ids) == len(set(ids)) == 5


async def test_staff_may_send_again_but_each_send_is_its_own_email(
    sessions: Sessions, clock: FakeClock
) -> None:
    invoice = await new_invoice(sessions, clock)
    async with sessions() as session, session.begin():
        first = await invoicing.send_invoice(session, TENANT, invoice.id, clock())
        second = await invoicing.send_invoice(session, TENANT, invoice.id, clock())
    assert first.request_id != second.request_id
    assert len(await queued(sessions, SEND_SUBJECT)) == 2


async def test_a_paid_invoice_cannot_be_voided_and_drafts_cannot_be_sent(
    sessions: Sessions, clock: FakeClock
) -> None:
    draft = await new_invoice(sessions, clock, issue=False)
    async with sessions() as session, session.begin():
        with pytest.raises(Conflict, match="issue it first"):
            await invoicing.send_invoice(session, TENANT, draft.id, clock())
        invoice = await invoicing.issue_invoice(session, TENANT, draft.id, clock())
        invoice.amount_paid = Decimal("10.00")
        with pytest.raises(Conflict, match="refund or move those payments"):
            await invoicing.void_invoice(session, TENANT, invoice.id, clock())


async def test_bad_amounts_and_other_tenants_invoices_are_refused(
    sessions: Sessions, clock: FakeClock
) -> None:
    invoice = await new_invoice(sessions, clock)
    async with sessions() as session, session.begin():
        with pytest.raises(NotFound):
            await invoicing.get_invoice(session, "other-firm", invoice.id)
        with pytest.raises(InvalidRequest, match="decimals"):
            await invoicing.create_invoice(
                session,
                TENANT,
                InvoiceInput(customer_id=invoice.customer_id, subtotal=Decimal("10.005")),
                clock(),
            )
        with pytest.raises(NotFound):
            await invoicing.create_invoice(
                session,
                "other-firm",
                InvoiceInput(customer_id=invoice.customer_id, subtotal=Decimal(1)),
                clock(),
            )
