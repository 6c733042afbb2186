"""Automatic billing runs: each mode, each notification channel, the run calendar, and one run
per date with two runners racing."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing import runs
from billing.charges import add_charge
from billing.customers import create_customer
from billing.errors import Conflict, InvalidRequest
from billing.firm import firm_settings
from billing.models import BillingRun, Charge, Invoice, Notification, PaymentLink
from billing.run_schemas import ChargeInput, RunReport, RunSettingsInput
from billing.runs import BillingRunner
from billing.schemas import CustomerInput
from mailer.events import SEND_SUBJECT
from mailer.intake import parse_event
from mailer.render import EmailRenderer, default_templates_dir
from mailer.sms.events import SMS_SEND_SUBJECT
from mailer.sms.intake import parse_sms_event
from mailer.sms.render import SmsRenderer, default_sms_dir
from tests.billing.conftest import TENANT, FakeClock, queued

Sessions = async_sessionmaker[AsyncSession]
PORTAL = "https://portal.acme.example"


async def configure(sessions: Sessions, clock: FakeClock, **fields: Any) -> None:
    body = RunSettingsInput.model_validate({"enabled": True, **fields})
    async with sessions() as session, session.begin():
        settings = await firm_settings(session, TENANT, clock())
        settings.company_name, settings.portal_url = "Acme Bookkeeping", PORTAL
        await runs.configure_runs(session, TENANT, body, clock())


async def new_customer(
    sessions: Sessions, clock: FakeClock, name: str, *, mobile: str | None = None
) -> int:
    body = CustomerInput(
        name=name, email=f"{name.lower()}@example.org", mobile_phone=mobile, currency="EUR"
    )
    async with sessions() as session, session.begin():
        return (await create_customer(session, TENANT, body, clock())).id


async def charge(
    sessions: Sessions, clock: FakeClock, customer_id: int, amount: str, **fields: Any
) -> int:
    body = ChargeInput.model_validate(
        {"customer_id": customer_id, "description": f"Session {amount}", "amount": amount,
         **fields}
    )  # fmt: skip
    async with sessions() as session, session.begin():
        return (await add_charge(session, TENANT, body, clock())).id


async def run_now(sessions: Sessions, clock: FakeClock) -> RunReport:
    async with sessions() as session, session.begin():
        return await runs.run_now(session, TENANT, clock())


async def rows(sessions: Sessions, model: type[Any]) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


async def test_draft_mode_makes_one_draft_per_customer_and_tells_no_one(
    sessions: Sessions, clock: FakeClock
) -> None:
    await configure(sessions, clock, mode="draft")
    ada, bob = (
        await new_customer(sessions, clock, "Ada"),
        await new_customer(sessions, clock, "Bob"),
    )
    await new_customer(sessions, clock, "Cy")  # nothing due: gets nothing
    await charge(sessions, clock, ada, "40.00")
    await charge(sessions, clock, ada, "60.50")
    later = await charge(sessions, clock, bob, "99.00", charge_date="2026-11-20")

    report = await run_now(sessions, clock)

    [draft] = await rows(sessions, Invoice)
    assert (draft.customer_id, draft.state, draft.source, draft.run_id) == (
        ada, "draft", "run", report.id,
    )  # fmt: skip
    assert [line.amount for line in draft.lines] == [Decimal("40.00"), Decimal("60.50")]
    assert draft.total == Decimal("100.50")
    charges = {c.id: c for c in await rows(sessions, Charge)}
    assert [c.invoice_id for c in charges.values() if c.billed] == [draft.id, draft.id]
    assert charges[later].billed is False
    assert await rows(sessions, Notification) == []
    assert (report.invoices_created, report.drafts_awaiting_confirmation) == (1, 1)
    assert [item.customer_id for item in report.items] == [ada]


async def test_confirming_a_draft_issues_it_and_notifies_the_customer(
    sessions: Sessions, clock: FakeClock
) -> None:
    await configure(sessions, clock, mode="draft", notify="email")
    ada = await new_customer(sessions, clock, "Ada")
    await charge(sessions, clock, ada, "40.00")
    report = await run_now(sessions, clock)
    async with sessions() as session:
        [draft] = await runs.list_drafts(session, TENANT)

    async with sessions() as session, session.begin():
        invoice, [note] = await runs.confirm_draft(session, TENANT, draft.id, clock())

    assert (invoice.state, invoice.number, invoice.sent_by) == ("issued", "INV-0001", "run")
    assert (note.channel, note.run_id, note.status) == ("email", report.id, "queued")
    [email] = await queued(sessions, SEND_SUBJECT)
    assert parse_event(email).data.invoice.number == "INV-0001"  # type: ignore[union-attr]
    async with sessions() as session:
        assert list(await runs.list_drafts(session, TENANT)) == []
    with pytest.raises(Conflict):
        async with sessions() as session, session.begin():
            await runs.confirm_draft(session, TENANT, draft.id, clock())


async def test_send_invoice_mode_issues_and_emails_at_once(
    sessions: Sessions, clock: FakeClock
) -> None:
    await configure(sessions, clock, mode="send_invoice")
    ada = await new_customer(sessions, clock, "Ada")
    await new_customer(sessions, clock, "Cy")  # nothing due: gets nothing
    await charge(sessions, clock, ada, "75.00")

    report = await run_now(sessions, clock)

    [invoice] = await rows(sessions, Invoice)
    assert (invoice.state, invoice.number, invoice.total) == ("issued", "INV-0001", Decimal(75))
    [email] = await queued(sessions, SEND_SUBJECT)
    event = parse_event(email)
    assert (event.template, event.to[0].email) == ("invoice.new", "ada@example.org")
    assert await queued(sessions, SMS_SEND_SUBJECT) == []
    assert (report.emails.requested, report.sms.requested, report.failures) == (1, 0, 0)
    assert report.items[0].outcome == "invoice_sent"


async def test_sms_goes_to_mobiles_and_a_customer_without_one_is_a_reported_failure(
    sessions: Sessions, clock: FakeClock
) -> None:
    await configure(sessions, clock, mode="send_invoice", notify="sms")
    ada = await new_customer(sessions, clock, "Ada", mobile="+4512345678")
    bob = await new_customer(sessions, clock, "Bob")
    await charge(sessions, clock, ada, "10.00")
    await charge(sessions, clock, bob, "20.00")

    report = await run_now(sessions, clock)

    [text] = await queued(sessions, SMS_SEND_SUBJECT)
    sms = parse_sms_event(text)
    assert (sms.to, sms.template) == ("+4512345678", "invoice.new")
    assert "INV-0001" in SmsRenderer(default_sms_dir()).render(sms).body
    assert await queued(sessions, SEND_SUBJECT) == []
    assert (report.sms.requested, report.sms.failed, report.emails.requested) == (2, 1, 0)
    [failure] = report.failure_list
    assert (failure.customer_name, failure.channel, failure.recipient) == ("Bob", "sms", "")
    assert failure.detail == "the customer has no mobile phone number"


async def test_notify_both_sends_one_email_and_one_sms_each(
    sessions: Sessions, clock: FakeClock
) -> None:
    await configure(sessions, clock, mode="send_invoice", notify="both")
    for name in ("Ada", "Bob"):
        customer = await new_customer(sessions, clock, name, mobile="+4512345678")
        await charge(sessions, clock, customer, "10.00")

    report = await run_now(sessions, clock)

    assert len(await queued(sessions, SEND_SUBJECT)) == 2
    assert len(await queued(sessions, SMS_SEND_SUBJECT)) == 2
    assert (report.emails.requested, report.sms.requested, report.notifications) == (2, 2, 4)


async def test_payment_link_mode_requests_the_total_without_an_invoice(
    sessions: Sessions, clock: FakeClock
) -> None:
    await configure(sessions, clock, mode="send_payment_link", notify="both")
    ada = await new_customer(sessions, clock, "Ada", mobile="+4512345678")
    await charge(sessions, clock, ada, "40.00")
    await charge(sessions, clock, ada, "2.50")

    report = await run_now(sessions, clock)

    assert await rows(sessions, Invoice) == []
    [link] = await rows(sessions, PaymentLink)
    assert (link.amount, link.currency, link.run_id) == (Decimal("42.50"), "EUR", report.id)
    assert {c.payment_link_id for c in await rows(sessions, Charge)} == {link.id}
    [email] = await queued(sessions, SEND_SUBJECT)
    event = parse_event(email)
    assert event.template == "payment.link"
    assert event.data.links.pay == f"{PORTAL}/pay/{link.token}"
    assert event.data.invoice is not None and event.data.invoice.total == Decimal("42.50")
    rendered = EmailRenderer(default_templates_dir()).render(event)
    assert "42.50" in rendered.text and f"/pay/{link.token}" in rendered.html
    [text] = await queued(sessions, SMS_SEND_SUBJECT)
    sms = parse_sms_event(text)
    assert f"{PORTAL}/pay/{link.token}" in SmsRenderer(default_sms_dir()).render(sms).body
    assert (report.payment_links_created, report.invoices_created) == (1, 0)


async def test_one_invoice_per_customer_and_currency(sessions: Sessions, clock: FakeClock) -> None:
    await configure(sessions, clock, mode="draft")
    ada = await new_customer(sessions, clock, "Ada")
    await charge(sessions, clock, ada, "10.00")
    await charge(sessions, clock, ada, "12.00", currency="USD")
    await charge(sessions, clock, ada, "5.00")

    await run_now(sessions, clock)

    totals = {(i.currency, i.total) for i in await rows(sessions, Invoice)}
    assert totals == {("EUR", Decimal("15.00")), ("USD", Decimal("12.00"))}


async def test_a_charge_is_billed_by_one_run_only(sessions: Sessions, clock: FakeClock) -> None:
    await configure(sessions, clock, mode="send_invoice")
    ada = await new_customer(sessions, clock, "Ada")
    await charge(sessions, clock, ada, "10.00")

    first, second = await run_now(sessions, clock), await run_now(sessions, clock)

    assert (first.invoices_created, second.invoices_created) == (1, 0)
    assert second.items == []


async def test_the_runner_runs_on_the_calendar_once_per_date(
    sessions: Sessions, clock: FakeClock
) -> None:
    await configure(sessions, clock, mode="send_invoice", cycle="weekly", weekday=2)
    ada = await new_customer(sessions, clock, "Ada")
    await charge(sessions, clock, ada, "10.00")
    runner = BillingRunner(sessions, clock)

    assert await runner.run_due() == 0  # Monday; runs are on Wednesdays
    clock.advance(days=2)
    assert await runner.run_due() == 1
    assert await runner.run_due() == 0
    await charge(sessions, clock, ada, "20.00")
    clock.advance(days=6)
    assert await runner.run_due() == 0
    clock.advance(days=1)
    assert await runner.run_due() == 1

    made = await rows(sessions, BillingRun)
    assert [(r.kind, r.scheduled_on) for r in made] == [
        ("automatic", date(2026, 11, 4)),
        ("automatic", date(2026, 11, 11)),
    ]
    assert [i.total for i in await rows(sessions, Invoice)] == [Decimal(10), Decimal(20)]
    assert len(await queued(sessions, "billing.run.completed")) == 2


async def test_switching_runs_on_does_not_bill_for_past_dates(
    sessions: Sessions, clock: FakeClock
) -> None:
    await configure(sessions, clock, cycle="monthly", month_day=1)  # on 2 November
    runner = BillingRunner(sessions, clock)

    assert await runner.run_due() == 0
    async with sessions() as session:
        view = await runs.run_settings(session, TENANT, clock())
    assert (view.enabled_on, view.next_run_on) == (date(2026, 11, 2), date(2026, 12, 1))
    clock.advance(days=29)
    assert await runner.run_due() == 1


async def test_two_runners_racing_make_one_run(sessions: Sessions, clock: FakeClock) -> None:
    await configure(sessions, clock, mode="send_invoice", cycle="daily")
    for name in ("Ada", "Bob", "Cy"):
        customer = await new_customer(sessions, clock, name)
        await charge(sessions, clock, customer, "10.00")
        await charge(sessions, clock, customer, "5.00")

    performed = await asyncio.gather(
        BillingRunner(sessions, clock).run_due(), BillingRunner(sessions, clock).run_due()
    )

    assert sorted(performed) == [0, 1]
    assert len(await rows(sessions, BillingRun)) == 1
    assert len(await rows(sessions, Invoice)) == 3
    assert len(await queued(sessions, SEND_SUBJECT)) == 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "0"}, "more than zero"),
        ({"amount": "10.005"}, "more decimals"),
        ({"amount": "10", "currency": "XYZ"}, "unknown currency"),
        ({"amount": "10", "charge_date": "2026-11-02", "due_on": "2026-11-01"}, "before"),
    ],
)
async def test_charges_are_checked(
    sessions: Sessions, clock: FakeClock, fields: dict[str, str], message: str
) -> None:
    ada = await new_customer(sessions, clock, "Ada")
    amount = fields.pop("amount")
    with pytest.raises(InvalidRequest, match=message):
        await charge(sessions, clock, ada, amount, **fields)
