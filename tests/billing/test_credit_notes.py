"""Customer credit: credit notes (split, numbered, emailed) and credit put on invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from billing import credit_notes
from billing.autosend import AutoSender
from billing.errors import Conflict, InvalidRequest, NotFound
from billing.models import Application, CreditEntry
from billing.payment_schemas import CreditNoteInput, InvoicePaymentInput, PrepaymentInput
from billing.payments import pay_invoice, record_prepayment
from billing.schemas import PaymentMethod
from mailer.events import SEND_SUBJECT, SendEvent
from tests.billing.conftest import TENANT, FakeClock, queued
from tests.billing.money_factories import (
    Sessions,
    act,
    invoice_row,
    new_customer,
    new_invoice,
    set_firm,
)

D = Decimal


async def prepay(sessions: Sessions, clock: FakeClock, customer: int, amount: str) -> None:
    body = PrepaymentInput(customer_id=customer, amount=D(amount), method=PaymentMethod.OFFLINE)
    await act(sessions, lambda s: record_prepayment(s, TENANT, body, clock()))


async def credit_note(
    sessions: Sessions, clock: FakeClock, tenant: str = TENANT, **fields: Any
) -> Any:
    body = CreditNoteInput.model_validate(fields)
    return await act(sessions, lambda s: credit_notes.create_credit_note(s, tenant, body, clock()))


async def apply(sessions: Sessions, clock: FakeClock, invoice_id: int, amount: str) -> Any:
    return await act(
        sessions, lambda s: credit_notes.apply_credit(s, TENANT, invoice_id, D(amount), clock())
    )


async def credit_emails(sessions: Sessions) -> list[SendEvent]:
    found = [SendEvent.model_validate(event) for event in await queued(sessions, SEND_SUBJECT)]
    return [event for event in found if event.template == "credit_note.new"]


async def test_credit_pays_an_invoice_and_announces_what_is_left(
    sessions: Sessions, clock: FakeClock
) -> None:
    await set_firm(sessions, clock(), prepayments_enabled=True)
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "100.00")
    await prepay(sessions, clock, customer, "150.00")

    partly = await apply(sessions, clock, invoice_id, "60.00")
    assert (partly.amount, partly.credit_balance, partly.invoice.state) == (
        D("60.00"),
        D("90.00"),
        "partially_paid",
    )
    with pytest.raises(InvalidRequest, match=r"balance is only 40\.00 EUR"):
        await apply(sessions, clock, invoice_id, "50.00")
    rest = await apply(sessions, clock, invoice_id, "40.00")
    assert (rest.invoice.state, rest.credit_balance) == ("paid", D("50.00"))
    with pytest.raises(Conflict, match="is paid"):
        await apply(sessions, clock, invoice_id, "1.00")

    events = await queued(sessions, "billing.credit.applied")
    assert [(e["data"]["amount"], e["data"]["credit_balance"]) for e in events] == [
        ("60.00", "90.00"),
        ("40.00", "50.00"),
    ]
    assert len(await queued(sessions, "billing.invoice.paid")) == 1
    async with sessions() as session:
        sources = (await session.execute(select(Application.source))).scalars().all()
        kinds = (await session.execute(select(CreditEntry.kind))).scalars().all()
    assert sources == ["credit", "credit"]
    assert kinds == ["prepayment", "applied", "applied"]


async def test_credit_cannot_exceed_what_the_customer_has(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "100.00")
    with pytest.raises(InvalidRequest, match=r"has only 0\.00 EUR credit"):
        await apply(sessions, clock, invoice_id, "10.00")
    with pytest.raises(NotFound):
        await act(
            sessions,
            lambda s: credit_notes.apply_credit(s, "other", invoice_id, D("1.00"), clock()),
        )


async def test_a_credit_note_pays_its_invoice_first_and_the_rest_becomes_credit(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "100.00")
    paying = InvoicePaymentInput(amount=D("70.00"), method=PaymentMethod.CARD)
    await act(sessions, lambda s: pay_invoice(s, TENANT, invoice_id, paying, clock()))

    note = await credit_note(
        sessions,
        clock,
        customer_id=customer,
        invoice_id=invoice_id,
        lines=[{"description": "Refund of month 1", "quantity": "2", "unit_price": "25.00"}],
        tax_rate="20",
        reason="overbilled",
    )

    assert (note.number, note.total, note.to_invoice, note.to_credit) == (
        "CN-0001",
        D("60.00"),
        D("30.00"),
        D("30.00"),
    )
    invoice = await invoice_row(sessions, invoice_id)
    assert (invoice.state, invoice.amount_paid) == ("paid", D("100.00"))
    movements = await act(sessions, lambda s: credit_notes.credit_movements(s, TENANT, customer))
    assert [(entry.kind, entry.amount, entry.credit_note_id) for entry in movements] == [
        ("credit_note", D("30.00"), note.id)
    ]
    assert credit_notes.credit_balances(movements) == {"EUR": D("30.00")}


async def test_credit_notes_without_an_invoice_and_their_refusals(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    other = await new_customer(sessions, clock(), name="Other")
    paid = await new_invoice(sessions, clock(), customer, "0.00")
    foreign = await new_invoice(sessions, clock(), other, "10.00")

    loose = await credit_note(sessions, clock, customer_id=customer, total="12.50")
    assert (loose.to_invoice, loose.to_credit, loose.invoice_id) == (D("0.00"), D("12.50"), None)

    with pytest.raises(Conflict, match="is paid"):
        await credit_note(sessions, clock, customer_id=customer, invoice_id=paid, total="1")
    with pytest.raises(InvalidRequest, match="another customer"):
        await credit_note(sessions, clock, customer_id=customer, invoice_id=foreign, total="1")
    with pytest.raises(InvalidRequest, match="more decimals"):
        await credit_note(sessions, clock, customer_id=customer, total="1.005")
    with pytest.raises(InvalidRequest, match="more than zero"):
        await credit_note(
            sessions,
            clock,
            customer_id=customer,
            lines=[{"description": "Nothing", "unit_price": "0"}],
        )
    with pytest.raises(NotFound):
        await credit_note(sessions, clock, tenant="other", customer_id=customer, total="1")
    second = await credit_note(sessions, clock, customer_id=customer, total="1")
    assert second.number == "CN-0002"  # refused notes used no number


def credit_note_sender(sessions: Sessions, clock: FakeClock) -> AutoSender:
    return AutoSender(sessions, {"credit_note": credit_notes.send_credit_note}, clock)


async def test_the_credit_note_email_goes_out_after_the_grace_delay(
    sessions: Sessions, clock: FakeClock
) -> None:
    await set_firm(sessions, clock(), auto_send_credit_note=True, auto_send_grace_seconds=300)
    customer = await new_customer(sessions, clock(), name="Customer 6")
    invoice_id = await new_invoice(sessions, clock(), customer, "540.00")
    await credit_note(sessions, clock, customer_id=customer, invoice_id=invoice_id, total="50.00")
    sender = credit_note_sender(sessions, clock)

    clock.advance(minutes=4, seconds=59)
    assert await sender.run_due() == 0
    clock.advance(seconds=1)
    assert await sender.run_due() == 1
    assert await sender.run_due() == 0

    [email] = await credit_emails(sessions)
    assert email.to[0].email == "customer7@example.org"
    note = email.data.credit_note
    assert note is not None
    assert (note.number, note.total, note.invoice_number) == ("CN-0001", D("50.00"), "INV-0001")
    assert email.data.invoice is not None and email.data.invoice.amount_paid == D("50.00")


async def test_staff_sending_within_the_grace_window_stops_the_automatic_email(
    sessions: Sessions, clock: FakeClock
) -> None:
    await set_firm(sessions, clock(), auto_send_credit_note=True)
    customer = await new_customer(sessions, clock())
    note = await credit_note(sessions, clock, customer_id=customer, total="5.00")
    clock.advance(minutes=1)

    sent = await act(sessions, lambda s: credit_notes.send_credit_note(s, TENANT, note.id, clock()))
    again = await act(
        sessions, lambda s: credit_notes.send_credit_note(s, TENANT, note.id, clock())
    )
    clock.advance(minutes=10)

    assert await credit_note_sender(sessions, clock).run_due() == 0
    assert sent.request_id != again.request_id
    assert len(await credit_emails(sessions)) == 2
    stored = await act(sessions, lambda s: credit_notes.get_credit_note(s, TENANT, note.id))
    assert stored.sent_at is not None


async def test_without_the_trigger_no_credit_note_is_emailed(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock(), email=None)
    note = await credit_note(sessions, clock, customer_id=customer, total="5.00")
    clock.advance(hours=1)
    assert await credit_note_sender(sessions, clock).run_due() == 0

    sent = await act(sessions, lambda s: credit_notes.send_credit_note(s, TENANT, note.id, clock()))
    assert (sent.status, sent.detail) == ("failed", "the customer has no email address")
    assert await credit_emails(sessions) == []


async def test_credit_notes_are_listed_and_found_per_tenant(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    other = await new_customer(sessions, clock(), name="Other")
    first = await credit_note(sessions, clock, customer_id=customer, total="1.00")
    second = await credit_note(sessions, clock, customer_id=other, total="2.00")

    listed = await act(sessions, lambda s: credit_notes.list_credit_notes(s, TENANT))
    mine = await act(
        sessions, lambda s: credit_notes.list_credit_notes(s, TENANT, customer_id=customer)
    )
    assert [note.id for note in listed] == [second.id, first.id]
    assert [note.id for note in mine] == [first.id]
    assert await act(sessions, lambda s: credit_notes.list_credit_notes(s, "other")) == []
    with pytest.raises(NotFound):
        await act(sessions, lambda s: credit_notes.get_credit_note(s, "other", first.id))
    with pytest.raises(NotFound):
        await act(sessions, lambda s: credit_notes.send_credit_note(s, "other", first.id, clock()))
    with pytest.raises(NotFound):
        await act(sessions, lambda s: credit_notes.credit_movements(s, "other", customer))
