"""Pure money rules: pricing invoices, their states, payments, credit, refunds and statements."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from billing.errors import Conflict, InvalidRequest
from billing.money import ZERO, exact_money, money_sum, quantum, round_money

__all__ = [
    "Allocation",
    "CreditNoteSplit",
    "InvoiceState",
    "InvoiceTotals",
    "LedgerEntry",
    "LineInput",
    "OpenInvoice",
    "PricedLine",
    "RefundPlan",
    "StatementFigures",
    "StatementLine",
    "allocate_payment",
    "check_credit_application",
    "invoice_state",
    "plan_refund",
    "price_invoice",
    "split_credit_note",
    "statement_figures",
]

MAX_DESCRIPTION_LENGTH = 500
MAX_QUANTITY_DECIMALS = 4
MAX_TAX_RATE_DECIMALS = 4
HUNDRED = Decimal(100)


class InvoiceState(enum.StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


@dataclass(frozen=True, slots=True)
class LineInput:
    description: str
    quantity: Decimal
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class PricedLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceTotals:
    lines: tuple[PricedLine, ...]
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    id: int
    balance: Decimal
    issue_date: date
    due_date: date | None


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one payment is spread: (invoice id, amount) oldest first, and the rest kept as credit."""

    applied: tuple[tuple[int, Decimal], ...]
    to_credit: Decimal

    @property
    def total(self) -> Decimal:
        return money_sum([amount for _, amount in self.applied]) + self.to_credit


@dataclass(frozen=True, slots=True)
class RefundPlan:
    """Where a refund comes from: the customer's credit, then (invoice id, amount) reversals."""

    from_credit: Decimal
    reversals: tuple[tuple[int, Decimal], ...]

    @property
    def total(self) -> Decimal:
        return self.from_credit + money_sum([amount for _, amount in self.reversals])


@dataclass(frozen=True, slots=True)
class CreditNoteSplit:
    to_invoice: Decimal
    to_credit: Decimal


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement on a customer's account: + increases what the customer owes, - decreases."""

    on: date
    description: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class StatementLine:
    on: date
    description: str
    amount: Decimal
    balance: Decimal


@dataclass(frozen=True, slots=True)
class StatementFigures:
    opening_balance: Decimal
    lines: tuple[StatementLine, ...]
    closing_balance: Decimal


def _show(amount: Decimal, currency: str) -> str:
    return f"{amount} {currency.upper()}"


def _zero(currency: str) -> Decimal:
    return round_money(ZERO, currency)


def _exact(value: Decimal, currency: str, what: str) -> Decimal:
    # money.exact_money lets decimal.InvalidOperation through for values beyond 28 digits.
    try:
        return exact_money(value, currency, what)
    except InvalidOperation as exc:
        raise InvalidRequest(f"{what}: {value} is too large") from exc


def _positive(value: Decimal, currency: str, what: str) -> Decimal:
    exact = _exact(value, currency, what)
    if exact <= ZERO:
        raise InvalidRequest(f"{what} must be more than zero, not {_show(exact, currency)}")
    return exact


def _computed(value: Decimal, currency: str, what: str) -> Decimal:
    try:
        # Adding ZERO turns a rounded "-0.00" into "0.00" so documents never show a signed zero.
        return round_money(value, currency) + ZERO
    except InvalidOperation as exc:
        raise InvalidRequest(f"{what} is too large to compute") from exc


def _stored(value: Decimal, currency: str, what: str) -> Decimal:
    """A figure the caller read from its records; a negative or mis-scaled one is a bug."""
    if not value.is_finite() or value < ZERO:
        raise ValueError(f"{what} must be a non-negative amount, not {value}")
    try:
        scaled = value.quantize(quantum(currency))
    except InvalidOperation as exc:
        raise ValueError(f"{what} {value} is too large") from exc
    if scaled != value:
        raise ValueError(f"{what} {value} is not at {currency.upper()}'s scale")
    return scaled


def _at_most_decimals(value: Decimal, decimals: int, what: str) -> None:
    try:
        fits = value.quantize(Decimal(1).scaleb(-decimals)) == value
    except InvalidOperation as exc:
        raise InvalidRequest(f"{what} {value} is too large") from exc
    if not fits:
        raise InvalidRequest(f"{what} {value} has more than {decimals} decimals")


def _price_line(line: LineInput, number: int, currency: str) -> PricedLine:
    where = f"line {number}"
    description = line.description.strip()
    if not description:
        raise InvalidRequest(f"{where}: the description is empty")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidRequest(
            f"{where}: the description has {len(description)} characters; "
            f"at most {MAX_DESCRIPTION_LENGTH} are allowed"
        )
    quantity = line.quantity
    if not quantity.is_finite() or quantity <= ZERO:
        raise InvalidRequest(f"{where}: quantity must be more than zero, not {quantity}")
    _at_most_decimals(quantity, MAX_QUANTITY_DECIMALS, f"{where}: quantity")
    unit_price = _exact(line.unit_price, currency, f"{where}: unit price")
    amount = _computed(quantity * unit_price, currency, f"{where}: the amount")
    return PricedLine(description, quantity, unit_price, amount)


def price_invoice(
    currency: str,
    lines: Sequence[LineInput],
    *,
    subtotal: Decimal | None = None,
    discount: Decimal = ZERO,
    tax_rate: Decimal = ZERO,
) -> InvoiceTotals:
    """The invoice's figures from line items or a plain subtotal, less a discount, plus tax.

    Line amounts and tax are rounded half-up to the currency; everything given must be exact.
    """
    if lines and subtotal is not None:
        raise InvalidRequest("give either line items or a plain subtotal, not both")
    if not lines and subtotal is None:
        raise InvalidRequest("an invoice needs line items or a plain subtotal")
    priced = tuple(_price_line(line, number, currency) for number, line in enumerate(lines, 1))
    if subtotal is None:
        base = money_sum([line.amount for line in priced]) + _zero(currency)
    else:
        base = _exact(subtotal, currency, "subtotal")
    if base < ZERO:
        raise InvalidRequest(
            f"the subtotal {_show(base, currency)} is below zero: "
            "discount lines cannot be larger than the other lines"
        )
    off = _exact(discount, currency, "discount")
    if off < ZERO:
        raise InvalidRequest(f"the discount {_show(off, currency)} cannot be negative")
    if off > base:
        raise InvalidRequest(
            f"the discount {_show(off, currency)} is more than "
            f"the subtotal of {_show(base, currency)}"
        )
    if not tax_rate.is_finite() or not ZERO <= tax_rate <= HUNDRED:
        raise InvalidRequest(f"the tax rate {tax_rate} must be a percentage from 0 to 100")
    _at_most_decimals(tax_rate, MAX_TAX_RATE_DECIMALS, "the tax rate")
    tax = _computed((base - off) * tax_rate / HUNDRED, currency, "the tax")
    return InvoiceTotals(priced, base, off, tax, base - off + tax)


def invoice_state(
    total: Decimal, amount_paid: Decimal, *, issued: bool, voided: bool
) -> InvoiceState:
    """The state an invoice's figures put it in; ValueError for figures that cannot happen."""
    if total < ZERO or amount_paid < ZERO or amount_paid > total:
        raise ValueError(f"an invoice of {total} cannot have {amount_paid} paid")
    if voided:
        return InvoiceState.VOID
    if not issued:
        return InvoiceState.DRAFT
    if amount_paid >= total:
        return InvoiceState.PAID
    if amount_paid > ZERO:
        return InvoiceState.PARTIALLY_PAID
    return InvoiceState.ISSUED


def _oldest_first(invoice: OpenInvoice) -> tuple[date, date, int]:
    return (invoice.due_date or invoice.issue_date, invoice.issue_date, invoice.id)


def _requested_amounts(
    amount: Decimal,
    currency: str,
    by_id: Mapping[int, OpenInvoice],
    balances: Mapping[int, Decimal],
    requested: Mapping[int, Decimal],
) -> dict[int, Decimal]:
    chosen: dict[int, Decimal] = {}
    for invoice_id, wanted in requested.items():
        if invoice_id not in by_id:
            raise InvalidRequest(f"invoice {invoice_id} is not open for payment")
        what = f"the amount for invoice {invoice_id}"
        value = _positive(wanted, currency, what)
        if value > balances[invoice_id]:
            raise InvalidRequest(
                f"{what}, {_show(value, currency)}, is more than its balance "
                f"of {_show(balances[invoice_id], currency)}"
            )
        chosen[invoice_id] = value
    asked = money_sum(list(chosen.values()))
    if asked > amount:
        raise InvalidRequest(
            f"the amounts for the invoices add up to {_show(asked, currency)}, "
            f"more than the payment of {_show(amount, currency)}"
        )
    return chosen


def allocate_payment(
    amount: Decimal,
    currency: str,
    open_invoices: Sequence[OpenInvoice],
    requested: Mapping[int, Decimal] | None = None,
    *,
    allow_partial: bool = True,
    allow_credit: bool = False,
) -> Allocation:
    """Spread a payment over open invoices: as `requested`, or oldest due first; rest to credit.

    `requested=None` means "pay the oldest first"; an empty mapping applies nothing, so the whole
    payment becomes credit (a prepayment).
    """
    payment = _positive(amount, currency, "the payment")
    balances: dict[int, Decimal] = {}
    for invoice in open_invoices:
        if invoice.id in balances:
            raise ValueError(f"invoice {invoice.id} is listed twice among the open invoices")
        balances[invoice.id] = _stored(invoice.balance, currency, f"invoice {invoice.id} balance")
    ordered = sorted(open_invoices, key=_oldest_first)
    by_id = {invoice.id: invoice for invoice in ordered}

    chosen: dict[int, Decimal]
    if requested is not None:
        chosen = _requested_amounts(payment, currency, by_id, balances, requested)
    else:
        chosen = {}
        left = payment
        for invoice in ordered:
            share = min(left, balances[invoice.id])
            if share > ZERO:
                chosen[invoice.id] = share
                left -= share
    applied = tuple((invoice.id, chosen[invoice.id]) for invoice in ordered if invoice.id in chosen)

    if not allow_partial:
        for invoice_id, share in applied:
            if share < balances[invoice_id]:
                raise InvalidRequest(
                    f"partial payments are off for this firm: invoice {invoice_id} would get "
                    f"{_show(share, currency)} of its {_show(balances[invoice_id], currency)} "
                    "balance; pay the whole balance"
                )
    spent = money_sum([share for _, share in applied])
    to_credit = payment - spent
    if to_credit > ZERO and not allow_credit:
        if requested is None:
            target = f"the {_show(spent, currency)} balance of the open invoices"
        else:
            target = f"the {_show(spent, currency)} it pays on invoices"
        raise InvalidRequest(
            f"the payment of {_show(payment, currency)} exceeds {target} by "
            f"{_show(to_credit, currency)}, and prepayments/credit are not enabled for this firm"
        )
    return Allocation(applied, to_credit)


def check_credit_application(
    amount: Decimal, currency: str, *, credit_balance: Decimal, invoice_balance: Decimal
) -> Decimal:
    """The amount of the customer's credit to apply to an invoice, once it is known to fit."""
    value = _positive(amount, currency, "the credit to apply")
    credit = _stored(credit_balance, currency, "credit balance")
    balance = _stored(invoice_balance, currency, "invoice balance")
    if value > credit:
        raise InvalidRequest(
            f"the customer has only {_show(credit, currency)} credit, "
            f"less than the {_show(value, currency)} to apply"
        )
    if value > balance:
        raise InvalidRequest(
            f"the invoice's balance is only {_show(balance, currency)}, "
            f"less than the {_show(value, currency)} of credit to apply"
        )
    return value


def plan_refund(
    amount: Decimal,
    currency: str,
    *,
    refundable: Decimal,
    unapplied: Decimal,
    credit_balance: Decimal,
    allocations: Sequence[tuple[int, Decimal]],
) -> RefundPlan:
    """Where a refund of (part of) one payment comes from: its unused credit, then its latest
    applications to invoices. Conflict if its credit has meanwhile paid other invoices.
    """
    value = _positive(amount, currency, "the refund")
    still_refundable = _stored(refundable, currency, "refundable amount")
    if value > still_refundable:
        raise InvalidRequest(
            f"the refund of {_show(value, currency)} is more than the "
            f"{_show(still_refundable, currency)} of this payment that can still be refunded"
        )
    from_credit = min(
        value,
        _stored(unapplied, currency, "unapplied amount"),
        _stored(credit_balance, currency, "credit balance"),
    )
    standing = [
        (invoice_id, _stored(share, currency, f"allocation to invoice {invoice_id}"))
        for invoice_id, share in allocations
    ]
    left = value - from_credit
    reversals: list[tuple[int, Decimal]] = []
    for invoice_id, share in reversed(standing):
        taken = min(left, share)
        if taken > ZERO:
            reversals.append((invoice_id, taken))
            left -= taken
    if left > ZERO:
        possible = value - left
        raise Conflict(
            "the credit from this payment has been used on other invoices, so only "
            f"{_show(possible, currency)} of it can be refunded now, not "
            f"{_show(value, currency)}; make the refund smaller"
        )
    return RefundPlan(from_credit, tuple(reversals))


def split_credit_note(
    total: Decimal, currency: str, invoice_balance: Decimal | None
) -> CreditNoteSplit:
    """A credit note's total against its invoice's balance, the rest to the customer's credit."""
    value = _positive(total, currency, "the credit note total")
    if invoice_balance is None:
        return CreditNoteSplit(_zero(currency), value)
    to_invoice = min(value, _stored(invoice_balance, currency, "invoice balance"))
    return CreditNoteSplit(to_invoice, value - to_invoice)


def statement_figures(entries: Sequence[LedgerEntry], start: date, end: date) -> StatementFigures:
    """The opening balance, dated lines with a running balance, and closing balance for a period.

    Ledger convention (amount = change in what the customer owes): invoice issued +total,
    invoice voided -total, payment -amount (prepayments too), refund +amount, credit note
    -total. Applying credit to an invoice moves nothing: the money was counted when it came in.
    """
    if start > end:
        raise InvalidRequest(f"the statement period starts on {start}, after its end on {end}")
    opening = money_sum([entry.amount for entry in entries if entry.on < start])
    in_period = sorted((entry for entry in entries if start <= entry.on <= end), key=_entry_day)
    balance = opening
    lines: list[StatementLine] = []
    for entry in in_period:
        balance += entry.amount
        lines.append(StatementLine(entry.on, entry.description, entry.amount, balance))
    return StatementFigures(opening, tuple(lines), balance)


def _entry_day(entry: LedgerEntry) -> date:
    return entry.on
