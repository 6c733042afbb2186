"""Payments, prepayments and refunds through the services, on the real store."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing import payments, refunds
from billing.credit_notes import apply_credit
from billing.customers import credit_balance
from billing.errors import Conflict, InvalidRequest, NotFound
from billing.models import Application, CreditEntry, Invoice
from billing.payment_schemas import (
    AllocationIn,
    InvoicePaymentInput,
    PaymentInput,
    PrepaymentInput,
)
from billing.schemas import PaymentMethod
from mailer.events import SEND_SUBJECT, SendEvent
from mailer.store.tenant_models import TenantPayments
from tests.billing.conftest import TENANT, FakeClock, queued
from tests.billing.money_factories import (
    Sessions,
    act,
    invoice_row,
    new_customer,
    new_invoice,
    payment_row,
    set_firm,
)

D = Decimal
CARD = PaymentMethod.CARD


def paying(customer_id: int, amount: str, **fields: Any) -> PaymentInput:
    return PaymentInput.model_validate(
        {"customer_id": customer_id, "amount": amount, "method": "card", **fields}
    )


async def pay(
    sessions: Sessions, clock: FakeClock, body: PaymentInput, tenant: str = TENANT
) -> int:
    payment = await act(sessions, lambda s: payments.record_payment(s, tenant, body, clock()))
    return payment.id


async def credit_of(sessions: Sessions, customer_id: int, currency: str = "EUR") -> Decimal:
    return await act(sessions, lambda s: credit_balance(s, TENANT, customer_id, currency))


async def emails(sessions: Sessions, template: str) -> list[SendEvent]:
    found = [SendEvent.model_validate(event) for event in await queued(sessions, SEND_SUBJECT)]
    return [event for event in found if event.template == template]


@pytest.mark.parametrize("thank_you", [False, True])
async def test_a_partial_payment_then_the_rest_pays_the_invoice_once(
    sessions: Sessions, clock: FakeClock, thank_you: bool
) -> None:
    await set_firm(sessions, clock(), thank_you_enabled=thank_you)
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "540.00")

    await pay(sessions, clock, paying(customer, "200.00", invoice_ids=[invoice_id]))
    partly = await invoice_row(sessions, invoice_id)
    assert (partly.state, partly.amount_paid) == ("partially_paid", D("200.00"))
    assert await queued(sessions, "billing.invoice.paid") == []

    clock.advance(days=3)
    await pay(sessions, clock, paying(customer, "340.00", invoice_ids=[invoice_id]))
    paid = await invoice_row(sessions, invoice_id)
    assert (paid.state, paid.amount_paid, paid.paid_at) == ("paid", D("540.00"), clock())
    [paid_event] = await queued(sessions, "billing.invoice.paid")
    assert paid_event["data"]["balance"] == "0.00"
    assert len(await queued(sessions, "billing.payment.received")) == 2
    assert len(await emails(sessions, "payment.receipt")) == 2
    assert len(await emails(sessions, "invoice.thank_you")) == (1 if thank_you else 0)


async def test_the_receipt_names_the_invoices_paid_and_carries_them_for_the_pdf(
    sessions: Sessions, clock: FakeClock
) -> None:
    await set_firm(sessions, clock())
    customer = await new_customer(sessions, clock())
    first = await new_invoice(sessions, clock(), customer, "100.00")
    second = await new_invoice(sessions, clock(), customer, "50.00")

    payment_id = await pay(sessions, clock, paying(customer, "120.00", reference="PAY-7"))

    [receipt] = await emails(sessions, "payment.receipt")
    assert receipt.id == f"billing.{TENANT}.payment{payment_id}.payment.receipt"
    assert receipt.to[0].email == "customer7@example.org"
    payment = receipt.data.payment
    assert payment is not None
    assert (payment.amount, payment.currency, payment.reference) == (D("120.00"), "EUR", "PAY-7")
    assert [(entry.number, entry.amount) for entry in payment.invoices] == [
        ("INV-0001", D("100.00")),
        ("INV-0002", D("20.00")),
    ]
    assert [(inv.number, inv.amount_paid) for inv in receipt.data.invoices] == [
        ("INV-0001", D("100.00")),
        ("INV-0002", D("20.00")),
    ]
    assert (await invoice_row(sessions, second)).state == "partially_paid"
    assert (await invoice_row(sessions, first)).state == "paid"


async def test_no_receipt_when_the_firm_turned_receipts_off(
    sessions: Sessions, clock: FakeClock
) -> None:
    await set_firm(sessions, clock(), receipts_enabled=False)
    customer = await new_customer(sessions, clock())
    await new_invoice(sessions, clock(), customer, "100.00")
    await pay(sessions, clock, paying(customer, "100.00"))
    assert await emails(sessions, "payment.receipt") == []
    assert len(await queued(sessions, "billing.payment.received")) == 1


async def test_a_payment_goes_to_the_oldest_due_invoices_first(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    today = clock().date()
    later = await new_invoice(sessions, clock(), customer, "100.00", due_date=today + timedelta(60))
    sooner = await new_invoice(sessions, clock(), customer, "100.00", due_date=today + timedelta(5))
    middle = await new_invoice(
        sessions, clock(), customer, "100.00", due_date=today + timedelta(30)
    )

    await pay(sessions, clock, paying(customer, "150.00"))

    paid = {i: (await invoice_row(sessions, i)).amount_paid for i in (sooner, middle, later)}
    assert paid == {sooner: D("100.00"), middle: D("50.00"), later: D("0.00")}
    [event] = await queued(sessions, "billing.payment.received")
    assert [a["invoice_id"] for a in event["data"]["applied"]] == [sooner, middle]
    assert event["data"]["to_credit"] == "0.00"


async def test_an_overpayment_is_refused_without_prepayments_and_kept_as_credit_with_them(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "100.00")

    with pytest.raises(InvalidRequest, match=r"exceeds .* by 30\.00 EUR"):
        await pay(sessions, clock, paying(customer, "130.00"))
    assert (await invoice_row(sessions, invoice_id)).amount_paid == 0

    await set_firm(sessions, clock(), prepayments_enabled=True)
    payment_id = await pay(sessions, clock, paying(customer, "130.00"))

    assert (await invoice_row(sessions, invoice_id)).state == "paid"
    assert (await payment_row(sessions, payment_id)).unapplied == D("30.00")
    assert await credit_of(sessions, customer) == D("30.00")
    async with sessions() as session:
        [entry] = (await session.execute(select(CreditEntry))).scalars()
    assert (entry.kind, entry.payment_id) == ("overpayment", payment_id)


async def test_explicit_allocations_and_their_refusals(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    other = await new_customer(sessions, clock(), name="Other")
    first = await new_invoice(sessions, clock(), customer, "100.00")
    second = await new_invoice(sessions, clock(), customer, "100.00")
    draft = await new_invoice(sessions, clock(), customer, "10.00", issue=False)
    foreign = await new_invoice(sessions, clock(), other, "10.00")
    elsewhere = await new_invoice(
        sessions,
        clock(),
        await new_customer(sessions, clock(), tenant="other"),
        "5",
        tenant="other",
    )

    def allocated(**amounts: str) -> PaymentInput:
        chosen = [AllocationIn(invoice_id=int(i[1:]), amount=D(a)) for i, a in amounts.items()]
        total = sum((entry.amount for entry in chosen), D(0))
        return paying(customer, str(total), allocations=chosen)

    await pay(sessions, clock, allocated(**{f"i{second}": "60.00", f"i{first}": "10.00"}))
    assert (await invoice_row(sessions, first)).amount_paid == D("10.00")
    assert (await invoice_row(sessions, second)).amount_paid == D("60.00")

    with pytest.raises(Conflict, match="is draft"):
        await pay(sessions, clock, allocated(**{f"i{draft}": "10.00"}))
    with pytest.raises(InvalidRequest, match="another customer"):
        await pay(sessions, clock, allocated(**{f"i{foreign}": "10.00"}))
    with pytest.raises(NotFound):
        await pay(sessions, clock, allocated(**{f"i{elsewhere}": "5.00"}))
    with pytest.raises(InvalidRequest, match="more than its balance"):
        await pay(sessions, clock, allocated(**{f"i{first}": "95.00"}))
    with pytest.raises(InvalidRequest, match="more decimals than EUR"):
        await pay(sessions, clock, paying(customer, "10.005"))
    with pytest.raises(NotFound):
        await pay(sessions, clock, paying(customer, "10.00"), tenant="other")


async def test_partial_payments_can_be_switched_off(sessions: Sessions, clock: FakeClock) -> None:
    await set_firm(sessions, clock(), allow_partial_payments=False)
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "100.00")
    with pytest.raises(InvalidRequest, match="partial payments are off"):
        await pay(sessions, clock, paying(customer, "40.00"))
    body = InvoicePaymentInput(method=CARD)
    payment = await act(
        sessions, lambda s: payments.pay_invoice(s, TENANT, invoice_id, body, clock())
    )
    assert payment.amount == D("100.00")
    assert (await invoice_row(sessions, invoice_id)).state == "paid"


async def test_paying_an_invoice_defaults_to_its_balance_and_refuses_closed_ones(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "80.00")
    await pay(sessions, clock, paying(customer, "30.00"))

    def pay_it(**fields: Any) -> Any:
        body = InvoicePaymentInput.model_validate({"method": "offline", **fields})
        return act(sessions, lambda s: payments.pay_invoice(s, TENANT, invoice_id, body, clock()))

    payment = await pay_it()
    assert payment.amount == D("50.00") and payment.method == "offline"
    with pytest.raises(Conflict, match="is paid"):
        await pay_it(amount="1.00")


async def test_prepayments_need_the_admin_switch_and_an_accepted_method(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "100.00")

    def prepay(method: str) -> Any:
        body = PrepaymentInput.model_validate(
            {"customer_id": customer, "amount": "75.00", "method": method}
        )
        return act(sessions, lambda s: payments.record_prepayment(s, TENANT, body, clock()))

    with pytest.raises(Conflict, match="prepayments are off"):
        await prepay("card")
    await set_firm(sessions, clock(), prepayments_enabled=True)
    await act(sessions, _accept_only_echeck)
    with pytest.raises(Conflict, match="does not take card payments"):
        await prepay("card")

    payment = await prepay("echeck")
    await prepay("offline")

    assert payment.prepayment and payment.unapplied == D("75.00")
    assert (await invoice_row(sessions, invoice_id)).amount_paid == 0
    assert await credit_of(sessions, customer) == D("150.00")
    [first, _] = await queued(sessions, "billing.payment.received")
    assert (first["data"]["applied"], first["data"]["to_credit"]) == ([], "75.00")
    assert len(await emails(sessions, "payment.receipt")) == 2


async def _accept_only_echeck(session: AsyncSession) -> None:
    session.add(
        TenantPayments(
            tenant=TENANT,
            enabled=True,
            staff_methods=["echeck"],
            portal_methods=[],
            updated_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
    )


async def test_a_refund_reopens_the_invoice_and_emails_the_customer(
    sessions: Sessions, clock: FakeClock
) -> None:
    await set_firm(sessions, clock())
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "540.00")
    payment_id = await pay(sessions, clock, paying(customer, "540.00", reference="PAY-8"))

    def refund(amount: str | None) -> Any:
        value = D(amount) if amount else None
        return act(
            sessions,
            lambda s: refunds.refund_payment(s, TENANT, payment_id, value, "duplicate", clock()),
        )

    first = await refund("140.00")
    invoice = await invoice_row(sessions, invoice_id)
    assert (invoice.state, invoice.amount_paid, invoice.paid_at) == (
        "partially_paid",
        D("400.00"),
        None,
    )
    assert (await payment_row(sessions, payment_id)).status == "partially_refunded"
    assert (first.amount, first.from_credit) == (D("140.00"), D("0.00"))

    await refund(None)
    invoice = await invoice_row(sessions, invoice_id)
    assert (invoice.state, invoice.amount_paid) == ("issued", D("0.00"))
    payment = await payment_row(sessions, payment_id)
    assert (payment.status, payment.refunded) == ("refunded", D("540.00"))
    with pytest.raises(Conflict, match="refunded in full"):
        await refund("1.00")

    mails = await emails(sessions, "payment.refund")
    assert [mail.data.payment.amount for mail in mails if mail.data.payment] == [
        D("140.00"),
        D("400.00"),
    ]
    assert mails[0].data.payment is not None
    assert mails[0].data.payment.invoices[0].number == "INV-0001"
    async with sessions() as session:
        rows = (await session.execute(select(Application.amount).order_by(Application.id))).all()
    assert [amount for (amount,) in rows] == [D("540.00"), D("-140.00"), D("-400.00")]


async def test_a_refund_takes_the_payments_credit_first_and_never_spent_credit(
    sessions: Sessions, clock: FakeClock
) -> None:
    await set_firm(sessions, clock(), prepayments_enabled=True)
    customer = await new_customer(sessions, clock())
    paid_id = await new_invoice(sessions, clock(), customer, "100.00")
    payment_id = await pay(sessions, clock, paying(customer, "150.00"))
    later_id = await new_invoice(sessions, clock(), customer, "40.00")
    await act(sessions, lambda s: apply_credit(s, TENANT, later_id, D("40.00"), clock()))

    def refund(amount: str) -> Any:
        return act(
            sessions,
            lambda s: refunds.refund_payment(s, TENANT, payment_id, D(amount), None, clock()),
        )

    with pytest.raises(InvalidRequest, match=r"more than the 150\.00 EUR"):
        await refund("150.01")
    with pytest.raises(Conflict, match=r"only 110\.00 EUR of it can be refunded"):
        await refund("120.00")
    result = await refund("30.00")

    assert (result.from_credit, result.amount) == (D("10.00"), D("30.00"))
    assert await credit_of(sessions, customer) == D("0.00")
    assert (await invoice_row(sessions, paid_id)).amount_paid == D("80.00")
    assert (await invoice_row(sessions, later_id)).state == "paid"
    assert (await payment_row(sessions, payment_id)).unapplied == D("40.00")


async def test_a_voided_invoice_never_comes_back_through_a_refund(
    sessions: Sessions, clock: FakeClock
) -> None:
    customer = await new_customer(sessions, clock())
    invoice_id = await new_invoice(sessions, clock(), customer, "100.00")
    payment_id = await pay(sessions, clock, paying(customer, "100.00"))

    async def void_behind_the_ledgers_back(session: AsyncSession) -> None:
        await session.execute(update(Invoice).where(Invoice.id == invoice_id).values(state="void"))

    await act(sessions, void_behind_the_ledgers_back)
    with pytest.raises(Conflict, match="is void: the money on it cannot be taken back"):
        await act(
            sessions,
            lambda s: refunds.refund_payment(s, TENANT, payment_id, None, None, clock()),
        )


async def test_searching_payments_by_every_filter(sessions: Sessions, clock: FakeClock) -> None:
    first = await new_customer(sessions, clock())
    second = await new_customer(sessions, clock(), name="Second")
    invoice_id = await new_invoice(sessions, clock(), first, "100.00")
    await new_invoice(sessions, clock(), second, "100.00")
    on_invoice = await pay(sessions, clock, paying(first, "10.00", received_on=date(2026, 10, 1)))
    offline = await pay(
        sessions, clock, paying(second, "20.00", method="offline", received_on=date(2026, 10, 5))
    )
    refunded = await pay(sessions, clock, paying(first, "30.00", received_on=date(2026, 10, 9)))
    await act(sessions, lambda s: refunds.refund_payment(s, TENANT, refunded, None, None, clock()))

    async def search(**filters: Any) -> list[int]:
        found = await act(sessions, lambda s: refunds.search_payments(s, TENANT, **filters))
        return [payment.id for payment in found]

    assert await search() == [refunded, offline, on_invoice]
    assert await search(customer_id=first) == [refunded, on_invoice]
    assert await search(invoice_id=invoice_id) == [refunded, on_invoice]
    assert await search(date_from=date(2026, 10, 2), date_to=date(2026, 10, 8)) == [offline]
    assert await search(method="offline") == [offline]
    assert await search(status="refunded") == [refunded]
    assert await search(limit=1, offset=1) == [offline]
    with pytest.raises(InvalidRequest, match="after date_to"):
        await search(date_from=date(2026, 10, 9), date_to=date(2026, 10, 1))
    assert await act(sessions, lambda s: refunds.search_payments(s, "other")) == []
    with pytest.raises(NotFound):
        await act(sessions, lambda s: refunds.get_payment(s, "other", on_invoice))
    with pytest.raises(NotFound):
        await act(
            sessions, lambda s: refunds.refund_payment(s, "other", on_invoice, None, None, clock())
        )


@pytest.mark.integration
async def test_on_postgresql_racing_transactions_never_spend_money_twice(
    pg_sessions: Sessions, clock: FakeClock
) -> None:
    sessions = pg_sessions
    await set_firm(sessions, clock(), prepayments_enabled=True)
    customer = await new_customer(sessions, clock())
    invoices = [await new_invoice(sessions, clock(), customer, "100.10") for _ in range(4)]
    body = PrepaymentInput(customer_id=customer, amount=D("150.10"), method=PaymentMethod.OFFLINE)
    await act(sessions, lambda s: payments.record_prepayment(s, TENANT, body, clock()))

    def use_credit(invoice_id: int) -> Any:
        return act(sessions, lambda s: apply_credit(s, TENANT, invoice_id, D("60.05"), clock()))

    used = await asyncio.gather(*map(use_credit, invoices), return_exceptions=True)

    assert sorted(type(result).__name__ for result in used) == [
        "CreditApplied",
        "CreditApplied",
        "InvalidRequest",
        "InvalidRequest",
    ]
    assert await credit_of(sessions, customer) == D("30.00")

    untouched = next(
        i for i, result in zip(invoices, used, strict=True) if isinstance(result, Exception)
    )
    payment_id = await pay(sessions, clock, paying(customer, "100.10", invoice_ids=[untouched]))

    def refund() -> Any:
        return act(
            sessions,
            lambda s: refunds.refund_payment(s, TENANT, payment_id, D("60.00"), None, clock()),
        )

    given = await asyncio.gather(refund(), refund(), return_exceptions=True)

    assert sorted(type(result).__name__ for result in given) == ["InvalidRequest", "Refund"]
    payment = await payment_row(sessions, payment_id)
    assert (payment.refunded, payment.status) == (D("60.00"), "partially_refunded")
    assert (await invoice_row(sessions, untouched)).amount_paid == D("40.10")
