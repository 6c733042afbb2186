"""The payment plan email lists each installment's date and amount in the customer's language."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import invoicing, payment_plans
from billing.customers import create_customer
from billing.document_schemas import InstallmentIn
from billing.firm import firm_settings
from billing.schemas import CustomerInput, InvoiceInput, LineIn
from mailer.events import SEND_SUBJECT, SendEvent
from mailer.message import RenderedEmail
from mailer.render import EmailRenderer, default_templates_dir
from tests.billing.conftest import TENANT, FakeClock, queued

Sessions = async_sessionmaker[AsyncSession]
TEMPLATE = "payment_plan.onboarding"
# 450.00 + 20 % tax = 540.00, paid in three unequal installments.
LINES = [LineIn(description="Bookkeeping, Q4", quantity=Decimal(3), unit_price=Decimal(150))]
INSTALLMENTS = [
    InstallmentIn(date=date(2026, 11, 15), amount=Decimal("100.00")),
    InstallmentIn(date=date(2026, 12, 15), amount=Decimal("190.00")),
    InstallmentIn(date=date(2027, 1, 15), amount=Decimal("250.00")),
]
NBSP = "\u00a0"
# (title, [(date, amount)]) as each locale formats them.
SHOWN = {
    "en": (
        "Your instalments",
        [("Nov 15, 2026", "€100.00"), ("Dec 15, 2026", "€190.00"), ("Jan 15, 2027", "€250.00")],
    ),
    "fr": (
        "Vos échéances",
        [
            ("15 nov. 2026", f"100,00{NBSP}€"),
            ("15 déc. 2026", f"190,00{NBSP}€"),
            ("15 janv. 2027", f"250,00{NBSP}€"),
        ],
    ),
}


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer(default_templates_dir())


async def plan_email(sessions: Sessions, clock: FakeClock, locale: str) -> SendEvent:
    """The `mail.send` event of a plan staff sent for a customer who reads `locale`."""
    async with sessions() as session, session.begin():
        settings = await firm_settings(session, TENANT, clock())
        settings.company_name = "Acme Bookkeeping"
        settings.portal_url = "https://portal.acme.example"
        body = CustomerInput(
            name="Customer 5", email="customer5@example.org", currency="EUR", locale=locale
        )
        customer = await create_customer(session, TENANT, body, clock())
        invoice = await invoicing.create_invoice(
            session,
            TENANT,
            InvoiceInput(customer_id=customer.id, lines=LINES, tax_rate=Decimal(20)),
            clock(),
        )
        await invoicing.issue_invoice(session, TENANT, invoice.id, clock(), auto_send=False)
        plan = await payment_plans.create_payment_plan(
            session, TENANT, invoice.id, INSTALLMENTS, clock()
        )
        await payment_plans.send_payment_plan(session, TENANT, plan.id, clock())
    [raw] = [
        event for event in await queued(sessions, SEND_SUBJECT) if event["template"] == TEMPLATE
    ]
    return SendEvent.model_validate(raw)


def html_rows(rendered: RenderedEmail) -> list[str]:
    return rendered.html.split("<tr>")[1:]


@pytest.mark.parametrize("locale", sorted(SHOWN))
async def test_each_installment_is_listed_with_its_date_and_amount(
    sessions: Sessions, clock: FakeClock, renderer: EmailRenderer, locale: str
) -> None:
    email = await plan_email(sessions, clock, locale)
    assert email.locale == locale
    rendered = renderer.render(email)
    title, installments = SHOWN[locale]

    lines = rendered.text.splitlines()
    listed = lines[lines.index(title) + 1 : lines.index(title) + 1 + len(installments)]
    for line, (day, amount) in zip(listed, installments, strict=True):
        assert line.startswith(f"- {day}") and line.endswith(amount), line
    assert f">{title}</p>" in rendered.html
    for day, amount in installments:
        [row] = [row for row in html_rows(rendered) if f">{day}</td>" in row]
        assert f">{amount}</td>" in row


async def test_without_installments_the_email_shows_no_table(
    sessions: Sessions, clock: FakeClock, renderer: EmailRenderer
) -> None:
    email = await plan_email(sessions, clock, "en")
    assert email.data.payment_plan is not None
    bare = email.model_copy(update={"data": email.data.model_copy(update={"payment_plan": None})})
    with_plan, without = renderer.render(email), renderer.render(bare)
    title, installments = SHOWN["en"]
    for shown in [title, *(text for row in installments for text in row)]:
        assert shown in with_plan.text
        assert shown not in without.text and shown not in without.html
    assert without.subject == with_plan.subject
