"""Documents sent for approval: estimates (issue, send, accept into a draft invoice, decline)
and payment plans (installments that pay the balance exactly)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import estimates, invoicing, payment_plans
from billing.autosend import AutoSender
from billing.customers import create_customer, get_customer
from billing.document_schemas import EstimateInput, EstimateUpdate, InstallmentIn
from billing.errors import Conflict, InvalidRequest, NotFound
from billing.firm import firm_settings
from billing.models import Estimate, Invoice
from billing.schemas import CustomerInput, InvoiceInput, LineIn
from mailer.events import SEND_SUBJECT, SendEvent
from mailer.render import EmailRenderer, default_templates_dir
from tests.billing.conftest import TENANT, FakeClock, queued

Sessions = async_sessionmaker[AsyncSession]
LINES = [
    LineIn(description="Bookkeeping, month 1", quantity=Decimal(1), unit_price=Decimal(150)),
    LineIn(description="Bookkeeping, month 2", quantity=Decimal(2), unit_price=Decimal("150.00")),
]


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer(default_templates_dir())


async def firm(sessions: Sessions, clock: FakeClock, **triggers: bool) -> None:
    async with sessions() as session, session.begin():
        settings = await firm_settings(session, TENANT, clock())
        settings.company_name = "Acme Bookkeeping"
        settings.company_email = "billing@acme.example"
        settings.portal_url = "https://portal.acme.example"
        for name, value in triggers.items():
            setattr(settings, name, value)


async def customer_id(sessions: Sessions, clock: FakeClock, tenant: str = TENANT) -> int:
    async with sessions() as session, session.begin():
        body = CustomerInput(name="Customer 14", email="customer14@example.org", currency="EUR")
        return (await create_customer(session, tenant, body, clock())).id


async def new_estimate(
    sessions: Sessions, clock: FakeClock, *, issue: bool = True, **fields: Any
) -> Estimate:
    customer = await customer_id(sessions, clock)
    async with sessions() as session, session.begin():
        body = EstimateInput.model_validate(
            {"customer_id": customer, "lines": LINES, "tax_rate": Decimal(20), **fields}
        )
        estimate = await estimates.create_estimate(session, TENANT, body, clock())
        if issue:
            await estimates.issue_estimate(session, TENANT, estimate.id, clock())
        return estimate


async def emails(sessions: Sessions) -> list[SendEvent]:
    return [SendEvent.model_validate(raw) for raw in await queued(sessions, SEND_SUBJECT)]


async def test_a_draft_is_priced_editable_and_numbered_only_when_issued(
    sessions: Sessions, clock: FakeClock
) -> None:
    draft = await new_estimate(sessions, clock, issue=False)
    assert draft.number is None
    assert (draft.subtotal, draft.tax, draft.total) == (
        Decimal("450.00"),
        Decimal("90.00"),
        Decimal("540.00"),
    )
    assert draft.lines[1] == {
        "description": "Bookkeeping, month 2",
        "quantity": "2",
        "unit_price": "150.00",
        "amount": "300.00",
    }
    async with sessions() as session, session.begin():
        edited = await estimates.update_estimate(
            session, TENANT, draft.id, EstimateUpdate(subtotal=Decimal("100.00")), clock()
        )
        assert (edited.total, edited.lines, edited.version) == (Decimal("100.00"), [], 2)
        issued = await estimates.issue_estimate(session, TENANT, draft.id, clock())
        assert (issued.number, issued.state) == ("EST-0001", "issued")
    with pytest.raises(Conflict, match="only drafts can be edited"):
        async with sessions() as session, session.begin():
            await estimates.update_estimate(
                session, TENANT, draft.id, EstimateUpdate(subtotal=Decimal(1)), clock()
            )


async def test_drafts_share_no_number_and_are_numbered_in_issue_order(
    sessions: Sessions, clock: FakeClock
) -> None:
    await firm(sessions, clock)
    first = await new_estimate(sessions, clock, issue=False)
    second = await new_estimate(sessions, clock, issue=False)
    async with sessions() as session, session.begin():
        settings = await firm_settings(session, TENANT, clock())
        draft = await estimates.get_estimate(session, TENANT, second.id)
        customer = await get_customer(session, TENANT, draft.customer_id)
        data = estimates.estimate_template_data(settings, customer, draft)
        assert (data["invoice"]["number"], data["links"]) == ("DRAFT", {})
        await estimates.issue_estimate(session, TENANT, second.id, clock())
        await estimates.issue_estimate(session, TENANT, first.id, clock())
    async with sessions() as session:
        numbers = {e.id: e.number for e in await estimates.list_estimates(session, TENANT)}
        assert numbers == {second.id: "EST-0001", first.id: "EST-0002"}


async def test_an_expiry_before_the_issue_date_is_refused(
    sessions: Sessions, clock: FakeClock
) -> None:
    with pytest.raises(InvalidRequest, match="expiry date 2026-10-01 is before the issue date"):
        await new_estimate(sessions, clock, expiry_date=date(2026, 10, 1))


async def test_sending_emails_the_estimate_in_the_invoice_object(
    sessions: Sessions, clock: FakeClock, renderer: EmailRenderer
) -> None:
    await firm(sessions, clock)
    estimate = await new_estimate(sessions, clock, expiry_date=date(2026, 12, 2))
    async with sessions() as session, session.begin():
        first = await estimates.send_estimate(session, TENANT, estimate.id, clock())
        again = await estimates.send_estimate(session, TENANT, estimate.id, clock())
        sent = await estimates.get_estimate(session, TENANT, estimate.id)

    assert first.request_id != again.request_id
    assert sent.sent_at == clock()
    email, _ = await emails(sessions)
    assert email.template == "estimate.new"
    assert email.data.invoice is not None
    assert (email.data.invoice.number, email.data.invoice.total) == ("EST-0001", Decimal("540.00"))
    assert email.data.invoice.due_date == date(2026, 12, 2)
    assert email.data.links.view == "https://portal.acme.example/estimates/EST-0001"
    rendered = renderer.render(email)
    assert "EST-0001" in rendered.subject and "Acme Bookkeeping" in rendered.subject
    assert "540.00" in rendered.text and "2026" in rendered.text


async def test_a_draft_estimate_cannot_be_sent_or_answered(
    sessions: Sessions, clock: FakeClock
) -> None:
    draft = await new_estimate(sessions, clock, issue=False)
    async with sessions() as session:
        for action in (estimates.send_estimate, estimates.accept_estimate):
            with pytest.raises(Conflict, match="draft: issue it first"):
                await action(session, TENANT, draft.id, clock())


async def test_accepting_makes_a_draft_invoice_with_the_same_lines(
    sessions: Sessions, clock: FakeClock
) -> None:
    estimate = await new_estimate(sessions, clock, notes="Quote for Q4")
    async with sessions() as session, session.begin():
        accepted, invoice = await estimates.accept_estimate(session, TENANT, estimate.id, clock())
        assert (accepted.state, accepted.invoice_id) == ("accepted", invoice.id)

    async with sessions() as session:
        stored = await invoicing.get_invoice(session, TENANT, invoice.id)
        assert (stored.state, stored.number, stored.source) == ("draft", None, "estimate")
        assert [(line.description, line.quantity, line.amount) for line in stored.lines] == [
            ("Bookkeeping, month 1", Decimal(1), Decimal("150.00")),
            ("Bookkeeping, month 2", Decimal(2), Decimal("300.00")),
        ]
        assert (stored.total, stored.tax, stored.notes) == (
            Decimal("540.00"),
            Decimal("90.00"),
            "Quote for Q4",
        )
        for action in (estimates.accept_estimate, estimates.decline_estimate):
            with pytest.raises(Conflict, match="already accepted"):
                await action(session, TENANT, estimate.id, clock())


async def test_a_subtotal_estimate_becomes_a_subtotal_invoice(
    sessions: Sessions, clock: FakeClock
) -> None:
    estimate = await new_estimate(sessions, clock, lines=[], subtotal="99.90", discount="9.90")
    async with sessions() as session, session.begin():
        _, invoice = await estimates.accept_estimate(session, TENANT, estimate.id, clock())
    assert (invoice.lines, invoice.subtotal, invoice.total) == (
        [],
        Decimal("99.90"),
        Decimal("108.00"),
    )


async def test_declined_and_expired_estimates_cannot_be_accepted(
    sessions: Sessions, clock: FakeClock
) -> None:
    declined = await new_estimate(sessions, clock)
    expiring = await new_estimate(sessions, clock, expiry_date=date(2026, 11, 5))
    async with sessions() as session, session.begin():
        assert (await estimates.decline_estimate(session, TENANT, declined.id, clock())).state == (
            "declined"
        )
    clock.advance(days=4)  # Nov 6
    async with sessions() as session:
        with pytest.raises(Conflict, match="already declined"):
            await estimates.accept_estimate(session, TENANT, declined.id, clock())
        with pytest.raises(Conflict, match="expired on 2026-11-05"):
            await estimates.accept_estimate(session, TENANT, expiring.id, clock())


async def test_the_estimate_trigger_sends_it_after_the_grace_delay_unless_staff_did(
    sessions: Sessions, clock: FakeClock
) -> None:
    await firm(sessions, clock, auto_send_estimate=True)
    automatic = await new_estimate(sessions, clock)
    by_staff = await new_estimate(sessions, clock)
    async with sessions() as session, session.begin():
        await estimates.send_estimate(session, TENANT, by_staff.id, clock())
    sender = AutoSender(sessions, {"estimate": estimates.send_estimate}, clock)

    clock.advance(minutes=4)
    assert await sender.run_due() == 0
    clock.advance(minutes=1)
    assert await sender.run_due() == 1

    sent = await emails(sessions)
    assert [email.data.invoice.number for email in sent if email.data.invoice] == [
        "EST-0002",
        "EST-0001",
    ]
    assert automatic.number == "EST-0001"


async def test_another_firm_cannot_see_or_answer_the_estimate(
    sessions: Sessions, clock: FakeClock
) -> None:
    estimate = await new_estimate(sessions, clock)
    async with sessions() as session:
        with pytest.raises(NotFound):
            await estimates.get_estimate(session, "other", estimate.id)
        with pytest.raises(NotFound):
            await estimates.accept_estimate(session, "other", estimate.id, clock())
        assert await estimates.list_estimates(session, "other") == []


async def open_invoice(sessions: Sessions, clock: FakeClock, *, issue: bool = True) -> Invoice:
    customer = await customer_id(sessions, clock)
    async with sessions() as session, session.begin():
        body = InvoiceInput(customer_id=customer, lines=LINES, tax_rate=Decimal(20))
        invoice = await invoicing.create_invoice(session, TENANT, body, clock())
        if issue:
            await invoicing.issue_invoice(session, TENANT, invoice.id, clock())
        return invoice


def installments(*items: tuple[str, str]) -> list[InstallmentIn]:
    return [
        InstallmentIn(date=date.fromisoformat(day), amount=Decimal(amount)) for day, amount in items
    ]


THREE_MONTHS = installments(
    ("2026-11-15", "180.00"), ("2026-12-15", "180.00"), ("2027-01-15", "180.00")
)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (installments(("2026-11-15", "500.00")), "add up to 500.00 EUR, but the invoice's balance"),
        (installments(("2026-11-15", "540.001")), "installment 1: amount: 540.001 has more dec"),
        (
            installments(("2026-11-15", "600.00"), ("2026-12-15", "-60.00")),
            "installment 2: the amount must be more than zero",
        ),
        (
            installments(("2026-12-15", "270.00"), ("2026-11-15", "270.00")),
            "installment 2 is dated 2026-11-15, not after installment 1 on 2026-12-15",
        ),
        (installments(("2026-10-15", "540.00")), "before the invoice's issue date 2026-11-02"),
        ([], "at least one installment"),
    ],
)
async def test_a_payment_plan_must_pay_the_balance_exactly_in_date_order(
    sessions: Sessions, clock: FakeClock, plan: list[InstallmentIn], message: str
) -> None:
    invoice = await open_invoice(sessions, clock)
    async with sessions() as session:
        with pytest.raises(InvalidRequest, match=message):
            await payment_plans.create_payment_plan(session, TENANT, invoice.id, plan, clock())


async def test_a_payment_plan_is_one_per_open_invoice(sessions: Sessions, clock: FakeClock) -> None:
    draft = await open_invoice(sessions, clock, issue=False)
    invoice = await open_invoice(sessions, clock)
    async with sessions() as session, session.begin():
        plan = await payment_plans.create_payment_plan(
            session, TENANT, invoice.id, THREE_MONTHS, clock()
        )
        assert plan.installments[0] == {"date": "2026-11-15", "amount": "180.00"}
    async with sessions() as session:
        with pytest.raises(Conflict, match="already has a payment plan"):
            await payment_plans.create_payment_plan(
                session, TENANT, invoice.id, THREE_MONTHS, clock()
            )
        with pytest.raises(Conflict, match="draft"):
            await payment_plans.create_payment_plan(
                session, TENANT, draft.id, THREE_MONTHS, clock()
            )
        with pytest.raises(NotFound):
            await payment_plans.create_payment_plan(
                session, "other", invoice.id, THREE_MONTHS, clock()
            )


async def test_the_payment_plan_email_carries_the_invoice_and_installments(
    sessions: Sessions, clock: FakeClock, renderer: EmailRenderer
) -> None:
    await firm(sessions, clock, auto_send_payment_plan=True)
    invoice = await open_invoice(sessions, clock)
    async with sessions() as session, session.begin():
        plan = await payment_plans.create_payment_plan(
            session, TENANT, invoice.id, THREE_MONTHS, clock()
        )
    sender = AutoSender(sessions, {"payment_plan": payment_plans.send_payment_plan}, clock)
    clock.advance(minutes=5)
    assert await sender.run_due() == 1
    async with sessions() as session, session.begin():
        assert (await payment_plans.get_payment_plan(session, TENANT, plan.id)).sent_at is not None

    [email] = await emails(sessions)
    assert email.template == "payment_plan.onboarding"
    assert email.data.invoice is not None and email.data.invoice.balance == Decimal("540.00")
    assert email.data.payment_plan is not None
    last = email.data.payment_plan.installments[2]
    assert (last.date, last.amount) == (date(2027, 1, 15), Decimal("180.00"))
    assert email.data.links.view == "https://portal.acme.example/invoices/INV-0001/payment-plan"
    rendered = renderer.render(email)
    assert "INV-0001" in rendered.subject and "540.00" in rendered.text


async def test_a_plan_for_a_paid_invoice_is_not_sent(sessions: Sessions, clock: FakeClock) -> None:
    invoice = await open_invoice(sessions, clock)
    async with sessions() as session, session.begin():
        plan = await payment_plans.create_payment_plan(
            session, TENANT, invoice.id, THREE_MONTHS, clock()
        )
        stored = await invoicing.get_invoice(session, TENANT, invoice.id)
        stored.amount_paid = stored.total
        await invoicing.settle(
            session, await firm_settings(session, TENANT, clock()), stored, clock()
        )
    async with sessions() as session:
        with pytest.raises(Conflict, match="is paid: there is nothing left to plan"):
            await payment_plans.send_payment_plan(session, TENANT, plan.id, clock())
