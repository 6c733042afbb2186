"""Property test: payments, credit, credit notes and refunds never create or lose money.

A state machine drives the real services on a fresh SQLite store per example; after every
step the invariants are read back from the database."""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import lazyload

from billing import credit_notes, invoicing, payments, refunds
from billing.customers import create_customer
from billing.errors import BillingError, Conflict, InvalidRequest
from billing.firm import firm_settings
from billing.ledger import LedgerEntry, invoice_state, statement_figures
from billing.models import Application, CreditEntry, CreditNote, Invoice, Payment, Refund
from billing.money import ZERO, money_sum, quantum
from billing.payment_schemas import (
    AllocationIn,
    CreditNoteInput,
    PaymentInput,
    PrepaymentInput,
)
from billing.schemas import CustomerInput, InvoiceInput, PaymentMethod
from mailer.store.database import create_engine, migrate, session_factory
from tests.billing.conftest import START, TENANT

T = TypeVar("T")
CURRENCIES = ("EUR", "JPY")  # two scales: cents and whole yen
OPEN = ("issued", "partially_paid")
units = st.integers(min_value=1, max_value=60_000)
picks = st.integers(min_value=0, max_value=1_000)


@cache
def migrated_template() -> Path:
    """One migrated store, copied for every example (migrating each time is too slow)."""
    directory = tempfile.mkdtemp(prefix="billing-money-")
    atexit.register(shutil.rmtree, directory, True)
    path = Path(directory) / "template.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


@dataclass
class Books:
    """Every money row of the store, as read back after a step."""

    invoices: list[Invoice]
    payments: list[Payment]
    refunds: list[Refund]
    notes: list[CreditNote]
    credit: list[CreditEntry]
    applications: list[Application]

    def of(self, customer_id: int, currency: str) -> Books:
        """The rows of one customer in one currency."""

        def mine(rows: list[Any]) -> list[Any]:
            return [r for r in rows if (r.customer_id, r.currency) == (customer_id, currency)]

        payments_ = mine(self.payments)
        ids = {payment.id for payment in payments_}
        return Books(
            invoices=mine(self.invoices),
            payments=payments_,
            refunds=[refund for refund in self.refunds if refund.payment_id in ids],
            notes=mine(self.notes),
            credit=mine(self.credit),
            applications=[a for a in self.applications if a.payment_id in ids],
        )

    @property
    def credit_balance(self) -> Decimal:
        return money_sum([entry.amount for entry in self.credit])


async def read_books(sessions: async_sessionmaker[AsyncSession]) -> Books:
    async with sessions() as session:

        async def rows(model: Any) -> list[Any]:
            query = select(model).options(lazyload("*")).order_by(model.id)
            return list((await session.execute(query)).scalars())

        return Books(
            invoices=await rows(Invoice),
            payments=await rows(Payment),
            refunds=await rows(Refund),
            notes=await rows(CreditNote),
            credit=await rows(CreditEntry),
            applications=await rows(Application),
        )


def no_money_is_created_or_lost(account: Books) -> None:
    received = money_sum([payment.amount for payment in account.payments])
    given_back = money_sum([refund.amount for refund in account.refunds])
    credited = money_sum([note.total for note in account.notes])
    on_invoices = money_sum([invoice.amount_paid for invoice in account.invoices])
    assert received - given_back + credited == on_invoices + account.credit_balance
    assert account.credit_balance >= 0


def invoices_hold_what_was_put_on_them(books: Books) -> None:
    for invoice in books.invoices:
        put = money_sum([a.amount for a in books.applications if a.invoice_id == invoice.id])
        assert 0 <= invoice.amount_paid <= invoice.total
        assert invoice.amount_paid == put
        expected = invoice_state(
            invoice.total,
            invoice.amount_paid,
            issued=invoice.issued_at is not None,
            voided=invoice.voided_at is not None,
        )
        assert invoice.state == expected.value


def every_payment_is_accounted_for(books: Books) -> None:
    for payment in books.payments:
        applied = money_sum([a.amount for a in books.applications if a.payment_id == payment.id])
        assert payment.amount == applied + payment.unapplied + payment.refunded
        assert 0 <= payment.refunded <= payment.amount
        assert payment.unapplied >= 0
        if payment.refunded == 0:
            assert payment.status == "succeeded"
        elif payment.refunded == payment.amount:
            assert payment.status == "refunded"
        else:
            assert payment.status == "partially_refunded"


def the_statement_closes_on_what_is_owed_less_credit(
    account: Books, start: date, end: date
) -> None:
    entries = [
        *(LedgerEntry(i.issue_date, "invoice", i.total) for i in account.invoices if i.issued_at),
        *(
            LedgerEntry(i.voided_at.date(), "void", -i.total)
            for i in account.invoices
            if i.voided_at is not None
        ),
        *(LedgerEntry(p.received_on, "payment", -p.amount) for p in account.payments),
        *(LedgerEntry(r.refunded_on, "refund", r.amount) for r in account.refunds),
        *(LedgerEntry(n.issue_date, "credit note", -n.total) for n in account.notes),
    ]
    figures = statement_figures(entries, start, end)
    owed = money_sum([i.balance for i in account.invoices if i.state in OPEN])
    assert figures.closing_balance == owed - account.credit_balance


class MoneyMachine(RuleBasedStateMachine):
    """Two customers (EUR and JPY) of one firm; the rules choose valid operations from the
    books as they stand, predict whether each is refused, and check what it changed."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="billing-example-"))
        shutil.copy(migrated_template(), self.directory / "billing.db")
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(f"sqlite+aiosqlite:///{self.directory / 'billing.db'}")
        self.sessions = session_factory(self.engine)
        self.now = START
        self.prepayments = False
        self.customers: dict[int, str] = {}
        self.books = Books([], [], [], [], [], [])

    def teardown(self) -> None:
        self.loop.run_until_complete(self.engine.dispose())
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # --- plumbing ---------------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def act(self, operation: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run the operation in its own transaction, then read the books again."""

        async def transaction() -> T:
            async with self.sessions() as session, session.begin():
                return await operation(session)

        result = self.run(transaction())
        self.books = self.run(read_books(self.sessions))
        return result

    def refused(self, operation: Callable[[AsyncSession], Awaitable[object]]) -> BillingError:
        before = self.books
        try:
            self.act(operation)
        except BillingError as error:
            self.books = self.run(read_books(self.sessions))
            assert len(self.books.applications) == len(before.applications)  # rolled back
            assert len(self.books.payments) == len(before.payments)
            return error
        raise AssertionError("the operation should have been refused")

    def money(self, currency: str, amount_units: int) -> Decimal:
        return quantum(currency) * amount_units

    def customer(self, which: int) -> int:
        return list(self.customers)[which % len(self.customers)]

    def open_invoices(self) -> list[Invoice]:
        return [invoice for invoice in self.books.invoices if invoice.state in OPEN]

    def credit(self, customer_id: int, currency: str) -> Decimal:
        return self.books.of(customer_id, currency).credit_balance

    def payable_with_credit(self) -> list[Invoice]:
        return [i for i in self.open_invoices() if self.credit(i.customer_id, i.currency) > 0]

    def refundable_payments(self) -> list[Payment]:
        return [payment for payment in self.books.payments if payment.refunded < payment.amount]

    def invoice(self, invoice_id: int) -> Invoice:
        return next(invoice for invoice in self.books.invoices if invoice.id == invoice_id)

    def payment(self, payment_id: int) -> Payment:
        return next(payment for payment in self.books.payments if payment.id == payment_id)

    # --- rules ------------------------------------------------------------------------------

    @initialize(prepayments=st.booleans(), amounts=st.lists(units, min_size=2, max_size=4))
    def customers_invoices_and_firm(self, prepayments: bool, amounts: list[int]) -> None:
        """Each customer starts with open invoices, so that money has somewhere to go."""

        async def setup(session: AsyncSession) -> None:
            firm = await firm_settings(session, TENANT, self.now)
            firm.thank_you_enabled, firm.prepayments_enabled = True, prepayments
            for currency in CURRENCIES:
                body = CustomerInput(name=f"Customer {currency}", currency=currency)
                customer = await create_customer(session, TENANT, body, self.now)
                self.customers[customer.id] = currency
                for days, amount in enumerate(amounts):
                    await self._invoice(session, customer.id, amount, days, issue=True)

        self.act(setup)
        self.prepayments = prepayments

    @rule(days=st.integers(min_value=0, max_value=40), prepayments=st.booleans())
    def time_passes_and_the_admin_may_switch_prepayments(
        self, days: int, prepayments: bool
    ) -> None:
        async def switch(session: AsyncSession) -> None:
            (await firm_settings(session, TENANT, self.now)).prepayments_enabled = prepayments

        self.now += timedelta(days=days, hours=1)
        self.act(switch)
        self.prepayments = prepayments

    @rule(which=picks, amount=units, issue=st.sampled_from([True, True, False]), due=picks)
    def create_invoice(self, which: int, amount: int, issue: bool, due: int) -> None:
        customer_id = self.customer(which)
        self.act(lambda session: self._invoice(session, customer_id, amount, due % 60, issue))

    @precondition(lambda self: any(i.state == "draft" for i in self.books.invoices))
    @rule(which=picks)
    def issue_a_draft(self, which: int) -> None:
        drafts = [invoice for invoice in self.books.invoices if invoice.state == "draft"]
        draft = drafts[which % len(drafts)]
        self.act(lambda s: invoicing.issue_invoice(s, TENANT, draft.id, self.now))
        assert self.invoice(draft.id).state == "issued"

    @precondition(lambda self: self.open_invoices())
    @rule(which=picks, how=st.sampled_from(["part", "full", "over"]), extra=units)
    def pay_one_invoice(self, which: int, how: str, extra: int) -> None:
        invoices = self.open_invoices()
        invoice = invoices[which % len(invoices)]
        step = quantum(invoice.currency)
        share = min(invoice.balance, step * extra) if how == "part" else invoice.balance
        amount = share + (step * extra if how == "over" else ZERO)
        body = PaymentInput(
            customer_id=invoice.customer_id,
            amount=amount,
            method=PaymentMethod.CARD,
            allocations=[AllocationIn(invoice_id=invoice.id, amount=share)],
        )
        if how == "over" and not self.prepayments:
            assert isinstance(self.refused(self._record(body)), InvalidRequest)
            return
        self.act(self._record(body))
        after = self.invoice(invoice.id)
        assert after.amount_paid == invoice.amount_paid + share
        assert (after.state == "paid") == (share == invoice.balance)

    @rule(which=picks, amount=units)
    def pay_oldest_first(self, which: int, amount: int) -> None:
        customer_id = self.customer(which)
        currency = self.customers[customer_id]
        value = self.money(currency, amount)
        mine = [invoice for invoice in self.open_invoices() if invoice.customer_id == customer_id]
        owed = money_sum([invoice.balance for invoice in mine])
        body = PaymentInput(customer_id=customer_id, amount=value, method=PaymentMethod.ECHECK)
        if value > owed and not self.prepayments:
            assert isinstance(self.refused(self._record(body)), InvalidRequest)
            return
        credit = self.credit(customer_id, currency)
        self.act(self._record(body))
        assert self.credit(customer_id, currency) == credit + max(ZERO, value - owed)

    @rule(which=picks, amount=units)
    def prepay(self, which: int, amount: int) -> None:
        customer_id = self.customer(which)
        currency = self.customers[customer_id]
        value = self.money(currency, amount)
        body = PrepaymentInput(customer_id=customer_id, amount=value, method=PaymentMethod.OFFLINE)

        def operation(session: AsyncSession) -> Awaitable[Payment]:
            return payments.record_prepayment(session, TENANT, body, self.now)

        if not self.prepayments:
            assert isinstance(self.refused(operation), Conflict)
            return
        credit = self.credit(customer_id, currency)
        self.act(operation)
        assert self.credit(customer_id, currency) == credit + value

    @precondition(lambda self: self.payable_with_credit())
    @rule(which=picks, amount=st.none() | units)
    def apply_credit(self, which: int, amount: int | None) -> None:
        """Without an amount: as much as the credit and the balance allow."""
        invoices = self.payable_with_credit()
        invoice = invoices[which % len(invoices)]
        currency = invoice.currency
        available = self.credit(invoice.customer_id, currency)
        most = min(available, invoice.balance)
        value = most if amount is None else self.money(currency, amount)

        def operation(session: AsyncSession) -> Awaitable[object]:
            return credit_notes.apply_credit(session, TENANT, invoice.id, value, self.now)

        if value > available or value > invoice.balance:
            assert isinstance(self.refused(operation), InvalidRequest)
            return
        self.act(operation)
        assert self.credit(invoice.customer_id, currency) == available - value
        assert self.invoice(invoice.id).amount_paid == invoice.amount_paid + value

    @rule(which=picks, amount=units, on_invoice=st.booleans())
    def credit_note(self, which: int, amount: int, on_invoice: bool) -> None:
        invoices = self.open_invoices() if on_invoice else []
        invoice = invoices[which % len(invoices)] if invoices else None
        customer_id = invoice.customer_id if invoice else self.customer(which)
        currency = self.customers[customer_id]
        total = self.money(currency, amount)
        body = CreditNoteInput(
            customer_id=customer_id, invoice_id=invoice.id if invoice else None, total=total
        )
        credit = self.credit(customer_id, currency)
        self.act(lambda s: credit_notes.create_credit_note(s, TENANT, body, self.now))
        to_invoice = min(total, invoice.balance) if invoice else ZERO
        assert self.credit(customer_id, currency) == credit + total - to_invoice

    @precondition(lambda self: self.refundable_payments())
    @rule(which=picks, amount=st.none() | units)
    def refund(self, which: int, amount: int | None) -> None:
        """Predicts the refusals: more than is left, or credit already spent elsewhere."""
        candidates = self.refundable_payments()
        payment = candidates[which % len(candidates)]
        currency = payment.currency
        refundable = payment.amount - payment.refunded
        wanted = refundable if amount is None else self.money(currency, amount)
        standing = money_sum(
            [a.amount for a in self.books.applications if a.payment_id == payment.id]
        )
        possible = min(payment.unapplied, self.credit(payment.customer_id, currency)) + standing
        value = None if amount is None else wanted

        def operation(session: AsyncSession) -> Awaitable[Refund]:
            return refunds.refund_payment(session, TENANT, payment.id, value, None, self.now)

        if wanted > refundable:
            assert isinstance(self.refused(operation), InvalidRequest)
        elif wanted > possible:
            assert isinstance(self.refused(operation), Conflict)
        else:
            self.act(operation)
            assert self.payment(payment.id).refunded == payment.refunded + wanted

    @precondition(lambda self: self.open_invoices())
    @rule(which=picks)
    def void(self, which: int) -> None:
        invoices = self.open_invoices()
        invoice = invoices[which % len(invoices)]

        def operation(session: AsyncSession) -> Awaitable[Invoice]:
            return invoicing.void_invoice(session, TENANT, invoice.id, self.now)

        if invoice.amount_paid > 0:
            assert isinstance(self.refused(operation), Conflict)
        else:
            self.act(operation)
            assert self.invoice(invoice.id).state == "void"

    async def _invoice(
        self, session: AsyncSession, customer_id: int, amount: int, due_in: int, issue: bool
    ) -> None:
        body = InvoiceInput(
            customer_id=customer_id,
            subtotal=self.money(self.customers[customer_id], amount),
            due_date=self.now.date() + timedelta(days=due_in),
        )
        invoice = await invoicing.create_invoice(session, TENANT, body, self.now)
        if issue:
            await invoicing.issue_invoice(session, TENANT, invoice.id, self.now)

    def _record(self, body: PaymentInput) -> Callable[[AsyncSession], Awaitable[Payment]]:
        return lambda session: payments.record_payment(session, TENANT, body, self.now)

    # --- invariants, read back from the store after every step ----------------------------

    @invariant()
    def the_books_balance(self) -> None:
        books = self.books  # read back from the store after the step's transaction
        for customer_id, currency in self.customers.items():
            account = books.of(customer_id, currency)
            no_money_is_created_or_lost(account)
            the_statement_closes_on_what_is_owed_less_credit(
                account, START.date(), self.now.date() + timedelta(days=1)
            )
        invoices_hold_what_was_put_on_them(books)
        every_payment_is_accounted_for(books)


MoneyMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
test_money_is_never_created_or_lost = MoneyMachine.TestCase
