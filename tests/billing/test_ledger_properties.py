"""Property-based and stateful tests for the money rules in billing.ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from billing.errors import Conflict, InvalidRequest
from billing.ledger import (
    LedgerEntry,
    LineInput,
    OpenInvoice,
    RefundPlan,
    allocate_payment,
    check_credit_application,
    invoice_state,
    plan_refund,
    price_invoice,
    split_credit_note,
    statement_figures,
)
from billing.money import minor_units, quantum
from tests.billing.ledger_cases import CURRENCIES, NIL, D, money, scale_of

# --- properties ----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data(), currency=CURRENCIES)
def test_priced_invoices_always_add_up(data: st.DataObject, currency: str) -> None:
    scale = minor_units(currency)
    lines = data.draw(
        st.lists(
            st.builds(
                LineInput,
                st.just("Item"),
                st.integers(1, 10**6).map(lambda n: D(n).scaleb(-4)),
                money(currency, -(10**5), 10**7),
            ),
            min_size=1,
            max_size=6,
        )
    )
    raw_subtotal = sum((line.quantity * line.unit_price for line in lines), D(0))
    tax_rate = data.draw(st.integers(0, 10**6).map(lambda n: D(n).scaleb(-4)))
    try:
        plain = price_invoice(currency, lines, tax_rate=tax_rate)
    except InvalidRequest as exc:
        assert "below zero" in exc.message
        assert raw_subtotal < len(lines) * quantum(currency)
        return
    discount = data.draw(money(currency, 0, int(plain.subtotal / quantum(currency))))
    totals = price_invoice(currency, lines, discount=discount, tax_rate=tax_rate)
    half_unit = quantum(currency) / 2
    assert sum((line.amount for line in totals.lines), D(0)) == totals.subtotal
    assert totals.subtotal - totals.discount + totals.tax == totals.total
    assert totals.discount == discount
    assert D(0) <= totals.tax and D(0) <= totals.total
    assert abs(totals.subtotal - raw_subtotal) <= half_unit * len(lines)
    assert abs(totals.tax - (totals.subtotal - discount) * tax_rate / 100) <= half_unit
    for given_line, priced in zip(lines, totals.lines, strict=True):
        assert abs(priced.amount - given_line.quantity * given_line.unit_price) <= half_unit
    figures = [totals.subtotal, totals.discount, totals.tax, totals.total]
    figures += [priced.amount for priced in totals.lines]
    assert all(scale_of(figure) == scale for figure in figures)


def open_invoices(currency: str) -> st.SearchStrategy[list[OpenInvoice]]:
    return st.lists(
        st.builds(
            OpenInvoice,
            st.integers(1, 10**6),
            money(currency, 0, 10**6),
            st.dates(date(2024, 1, 1), date(2024, 3, 1)),
            st.none() | st.dates(date(2024, 1, 1), date(2024, 6, 1)),
        ),
        max_size=8,
        unique_by=lambda item: item.id,
    )


@settings(max_examples=200, deadline=None)
@given(data=st.data(), currency=CURRENCIES)
def test_allocating_a_payment_neither_creates_nor_loses_money(
    data: st.DataObject, currency: str
) -> None:
    invoices = data.draw(open_invoices(currency))
    amount = data.draw(money(currency, 1, 5 * 10**6))
    allocation = allocate_payment(amount, currency, invoices, allow_credit=True)
    balances = {item.id: item.balance for item in invoices}
    applied_ids = [invoice_id for invoice_id, _ in allocation.applied]
    assert len(applied_ids) == len(set(applied_ids))
    assert sum((share for _, share in allocation.applied), D(0)) + allocation.to_credit == amount
    assert allocation.total == amount
    assert allocation.to_credit >= 0
    for invoice_id, share in allocation.applied:
        assert D(0) < share <= balances[invoice_id]
    short = [invoice_id for invoice_id, share in allocation.applied if share < balances[invoice_id]]
    assert len(short) <= 1  # only the last invoice reached can be partly paid
    if allocation.to_credit > 0:  # credit only once every open invoice is settled
        assert {i for i, b in balances.items() if b > 0} == set(applied_ids)
    shuffled = data.draw(st.permutations(invoices))
    assert allocate_payment(amount, currency, shuffled, allow_credit=True) == allocation


@settings(max_examples=150, deadline=None)
@given(data=st.data(), currency=CURRENCIES)
def test_requested_allocations_are_followed_exactly(data: st.DataObject, currency: str) -> None:
    invoices = [item for item in data.draw(open_invoices(currency)) if item.balance > 0]
    chosen = data.draw(
        st.lists(st.sampled_from(invoices), unique=True) if invoices else st.just([])
    )
    requested = {
        item.id: data.draw(money(currency, 1, int(item.balance / quantum(currency))))
        for item in chosen
    }
    asked = sum(requested.values(), D(0))
    amount = asked + data.draw(money(currency, 0 if requested else 1, 10**4))
    allocation = allocate_payment(amount, currency, invoices, requested, allow_credit=True)
    assert dict(allocation.applied) == requested
    assert allocation.to_credit == amount - asked
    assert allocation.total == amount


# --- a customer's account, step by step ----------------------------------------------------


@dataclass
class ModelInvoice:
    total: Decimal
    issue_date: date
    due_date: date | None
    paid: Decimal = NIL
    voided: bool = False

    @property
    def balance(self) -> Decimal:
        return D("0.00") if self.voided else self.total - self.paid


@dataclass
class ModelPayment:
    amount: Decimal
    unapplied: Decimal
    allocations: dict[int, Decimal]  # insertion order is the order they were made
    refunded: Decimal = NIL


@dataclass
class Customer:
    """One customer's invoices, payments and credit, as a service would store them."""

    currency: str = "EUR"
    today: date = date(2024, 1, 1)
    invoices: dict[int, ModelInvoice] = field(default_factory=dict)
    payments: list[ModelPayment] = field(default_factory=list)
    credit: Decimal = NIL
    entries: list[LedgerEntry] = field(default_factory=list)
    paid_in: Decimal = NIL
    refunded: Decimal = NIL
    credited: Decimal = NIL

    def record(self, description: str, amount: Decimal) -> None:
        self.entries.append(LedgerEntry(self.today, description, amount))

    def open_invoices(self) -> list[OpenInvoice]:
        return [
            OpenInvoice(invoice_id, item.balance, item.issue_date, item.due_date)
            for invoice_id, item in self.invoices.items()
            if item.balance > 0
        ]


EUR_CENTS = money("EUR", 1, 50_000)


class CustomerAccount(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.customer = Customer()

    @rule(days=st.integers(0, 20))
    def time_passes(self, days: int) -> None:
        self.customer.today += timedelta(days=days)

    @rule(
        data=st.data(),
        prices=st.lists(money("EUR", 0, 30_000), max_size=3),
        tax_rate=st.sampled_from([D(0), D("7.5"), D(20)]),
        due_in=st.none() | st.integers(0, 60),
    )
    def issue_invoice(
        self, data: st.DataObject, prices: list[Decimal], tax_rate: Decimal, due_in: int | None
    ) -> None:
        c = self.customer
        if prices:
            lines = [LineInput("Item", D(1), price) for price in prices]
            totals = price_invoice(c.currency, lines, tax_rate=tax_rate)
        else:
            subtotal = data.draw(money("EUR", 0, 30_000))
            totals = price_invoice(c.currency, [], subtotal=subtotal, tax_rate=tax_rate)
        due = None if due_in is None else c.today + timedelta(days=due_in)
        invoice_id = len(c.invoices) + 1
        c.invoices[invoice_id] = ModelInvoice(totals.total, c.today, due)
        c.record(f"Invoice {invoice_id}", totals.total)

    @rule(data=st.data(), amount=EUR_CENTS, allow_credit=st.booleans(), auto=st.booleans())
    def pay(self, data: st.DataObject, amount: Decimal, allow_credit: bool, auto: bool) -> None:
        c = self.customer
        candidates = c.open_invoices()
        requested: dict[int, Decimal] | None = None
        if not auto:
            requested = {}
            chosen = (
                data.draw(st.lists(st.sampled_from(candidates), unique=True, max_size=3))
                if candidates
                else []
            )
            for item in chosen:
                room = amount - sum(requested.values(), D(0))
                top = min(item.balance, room)
                if top > 0:
                    requested[item.id] = data.draw(money("EUR", 1, int(top * 100)))
        owed = sum((item.balance for item in candidates), D(0))
        goes_on_invoices = min(amount, owed) if requested is None else sum(requested.values(), D(0))
        if amount > goes_on_invoices and not allow_credit:
            with pytest.raises(InvalidRequest, match="prepayments/credit are not enabled"):
                allocate_payment(amount, c.currency, candidates, requested, allow_credit=False)
            return
        allocation = allocate_payment(
            amount, c.currency, candidates, requested, allow_credit=allow_credit
        )
        assert allocation.to_credit == amount - goes_on_invoices
        for invoice_id, share in allocation.applied:
            c.invoices[invoice_id].paid += share
        c.payments.append(ModelPayment(amount, allocation.to_credit, dict(allocation.applied)))
        c.credit += allocation.to_credit
        c.paid_in += amount
        c.record("Payment", -amount)

    @precondition(lambda self: self.customer.credit > 0 and bool(self.customer.open_invoices()))
    @rule(data=st.data())
    def apply_credit(self, data: st.DataObject) -> None:
        c = self.customer
        target = data.draw(st.sampled_from(c.open_invoices()))
        ceiling = max(c.credit, target.balance) + D("1.00")
        amount = data.draw(money("EUR", 1, int(ceiling * 100)))
        if amount > c.credit or amount > target.balance:
            with pytest.raises(InvalidRequest):
                check_credit_application(
                    amount, c.currency, credit_balance=c.credit, invoice_balance=target.balance
                )
            return
        applied = check_credit_application(
            amount, c.currency, credit_balance=c.credit, invoice_balance=target.balance
        )
        assert applied == amount
        c.credit -= applied
        c.invoices[target.id].paid += applied

    @precondition(lambda self: any(p.amount > p.refunded for p in self.customer.payments))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        c = self.customer
        payment = data.draw(st.sampled_from([p for p in c.payments if p.amount > p.refunded]))
        refundable = payment.amount - payment.refunded
        amount = data.draw(money("EUR", 1, int(refundable * 100)))
        possible = min(payment.unapplied, c.credit) + sum(payment.allocations.values(), D(0))

        def plan() -> RefundPlan:
            return plan_refund(
                amount,
                c.currency,
                refundable=refundable,
                unapplied=payment.unapplied,
                credit_balance=c.credit,
                allocations=list(payment.allocations.items()),
            )

        if amount > possible:
            with pytest.raises(Conflict):
                plan()
            return
        planned = plan()
        assert planned.total == amount
        assert planned.from_credit <= min(payment.unapplied, c.credit)
        c.credit -= planned.from_credit
        payment.unapplied -= planned.from_credit
        for invoice_id, taken in planned.reversals:
            assert D(0) < taken <= payment.allocations[invoice_id]
            payment.allocations[invoice_id] -= taken
            if payment.allocations[invoice_id] == 0:
                del payment.allocations[invoice_id]
            c.invoices[invoice_id].paid -= taken
        payment.refunded += amount
        c.refunded += amount
        c.record("Refund", amount)

    @rule(data=st.data(), total=EUR_CENTS, on_invoice=st.booleans())
    def credit_note(self, data: st.DataObject, total: Decimal, on_invoice: bool) -> None:
        c = self.customer
        live = [i for i, item in c.invoices.items() if not item.voided]
        invoice_id = data.draw(st.sampled_from(live)) if on_invoice and live else None
        balance = None if invoice_id is None else c.invoices[invoice_id].balance
        split = split_credit_note(total, c.currency, balance)
        assert split.to_invoice + split.to_credit == total
        if invoice_id is not None:
            c.invoices[invoice_id].paid += split.to_invoice
        else:
            assert split.to_invoice == 0
        c.credit += split.to_credit
        c.credited += total
        c.record("Credit note", -total)

    @precondition(
        lambda self: any(not i.voided and i.paid == 0 for i in self.customer.invoices.values())
    )
    @rule(data=st.data())
    def void_invoice(self, data: st.DataObject) -> None:
        c = self.customer
        unpaid = [i for i, item in c.invoices.items() if not item.voided and item.paid == 0]
        invoice_id = data.draw(st.sampled_from(unpaid))
        c.invoices[invoice_id].voided = True
        c.record(f"Invoice {invoice_id} voided", -c.invoices[invoice_id].total)

    @invariant()
    def invoices_are_never_overpaid(self) -> None:
        for item in self.customer.invoices.values():
            invoice_state(item.total, item.paid, issued=True, voided=item.voided)
            assert D(0) <= item.paid <= item.total
            assert not item.voided or item.paid == 0

    @invariant()
    def credit_is_never_negative(self) -> None:
        assert self.customer.credit >= 0

    @invariant()
    def payments_are_fully_accounted_for(self) -> None:
        for payment in self.customer.payments:
            standing = sum(payment.allocations.values(), D(0))
            assert payment.amount - payment.refunded == payment.unapplied + standing
            assert payment.unapplied >= 0

    @invariant()
    def money_is_conserved(self) -> None:
        c = self.customer
        held = sum((item.paid for item in c.invoices.values()), D(0)) + c.credit
        assert c.paid_in - c.refunded + c.credited == held

    @invariant()
    def statement_matches_the_balances(self) -> None:
        c = self.customer
        owed = sum((item.balance for item in c.invoices.values()), D(0)) - c.credit
        first = date(2024, 1, 1)
        whole = statement_figures(c.entries, first, c.today)
        assert whole.opening_balance == 0
        assert whole.closing_balance == owed
        middle = first + (c.today - first) // 2
        tail = statement_figures(c.entries, middle, c.today)
        assert tail.closing_balance == owed
        running = tail.opening_balance + sum((line.amount for line in tail.lines), D(0))
        assert running == owed
        if tail.lines:
            assert tail.lines[-1].balance == owed


CustomerAccount.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_customer_account = CustomerAccount.TestCase
