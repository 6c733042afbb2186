"""Unit and property tests for the pure money rules in billing.ledger."""

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
    Allocation,
    CreditNoteSplit,
    InvoiceState,
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

D = Decimal
DAY = date(2024, 3, 1)
NIL = D("0.00")


def line(quantity: str, unit_price: str, description: str = "Consulting") -> LineInput:
    return LineInput(description, D(quantity), D(unit_price))


def invoice(
    invoice_id: int, balance: str, issued: date = DAY, due: date | None = None
) -> OpenInvoice:
    return OpenInvoice(invoice_id, D(balance), issued, due)


def scale_of(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


# --- price_invoice -------------------------------------------------------------------------


def test_price_invoice_sums_lines_discount_and_tax() -> None:
    totals = price_invoice(
        "EUR",
        [line("2", "50.00"), line("1.5", "10.00", "Travel")],
        discount=D("15.00"),
        tax_rate=D("20"),
    )
    assert [priced.amount for priced in totals.lines] == [D("100.00"), D("15.00")]
    assert totals.subtotal == D("115.00")
    assert totals.discount == D("15.00")
    assert totals.tax == D("20.00")
    assert totals.total == D("120.00")
    assert str(totals.total) == "120.00"


def test_price_invoice_rounds_line_amounts_half_up() -> None:
    totals = price_invoice("EUR", [line("0.5", "0.05"), line("0.3333", "1.00")])
    assert [priced.amount for priced in totals.lines] == [D("0.03"), D("0.33")]
    assert totals.subtotal == D("0.36")


def test_price_invoice_rounds_tax_half_up() -> None:
    totals = price_invoice("EUR", [], subtotal=D("10.05"), tax_rate=D("10"))
    assert totals.tax == D("1.01")  # 1.005 rounds up
    assert totals.total == D("11.06")


def test_price_invoice_with_a_plain_subtotal_has_no_lines() -> None:
    totals = price_invoice("EUR", [], subtotal=D("99"), tax_rate=D("7.5"))
    assert totals.lines == ()
    assert str(totals.subtotal) == "99.00"
    assert totals.tax == D("7.43")
    assert totals.total == D("106.43")


def test_price_invoice_defaults_are_at_the_currency_scale() -> None:
    totals = price_invoice("EUR", [line("1", "5.00")])
    assert str(totals.discount) == "0.00"
    assert str(totals.tax) == "0.00"
    assert str(totals.total) == "5.00"


def test_price_invoice_allows_a_negative_discount_line() -> None:
    totals = price_invoice("EUR", [line("1", "100.00"), line("1", "-20.00", "Loyalty discount")])
    assert totals.subtotal == D("80.00")
    assert totals.lines[1].amount == D("-20.00")


def test_price_invoice_never_shows_a_signed_zero() -> None:
    totals = price_invoice("EUR", [line("0.001", "-1.00"), line("1", "1.00")])
    assert str(totals.lines[0].amount) == "0.00"


def test_price_invoice_strips_descriptions() -> None:
    totals = price_invoice("EUR", [line("1", "1.00", "  Hosting \n")])
    assert totals.lines[0].description == "Hosting"


def test_price_invoice_zero_total_is_allowed() -> None:
    totals = price_invoice("EUR", [], subtotal=D("0"))
    assert totals.total == D("0.00")


def test_price_invoice_jpy_has_no_decimals() -> None:
    totals = price_invoice("JPY", [line("1.5", "333")], tax_rate=D("10"))
    assert str(totals.lines[0].amount) == "500"  # 499.5 rounds up
    assert str(totals.tax) == "50"
    assert str(totals.total) == "550"


def test_price_invoice_kwd_has_three_decimals() -> None:
    totals = price_invoice("KWD", [line("3", "1.005")], discount=D("0.015"), tax_rate=D("5"))
    assert str(totals.subtotal) == "3.015"
    assert str(totals.tax) == "0.150"
    assert str(totals.total) == "3.150"


def test_price_invoice_rejects_both_lines_and_subtotal() -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [line("1", "1.00")], subtotal=D("1.00"))
    assert "either line items or a plain subtotal, not both" in info.value.message


def test_price_invoice_rejects_neither_lines_nor_subtotal() -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [])
    assert "needs line items or a plain subtotal" in info.value.message


@pytest.mark.parametrize("description", ["", "   ", "\n\t"])
def test_price_invoice_rejects_an_empty_description(description: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [line("1", "1.00"), line("1", "1.00", description)])
    assert info.value.message == "line 2: the description is empty"


def test_price_invoice_limits_description_length() -> None:
    price_invoice("EUR", [line("1", "1.00", "x" * 500)])
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [line("1", "1.00", "x" * 501)])
    assert "501 characters" in info.value.message
    assert "at most 500" in info.value.message


@pytest.mark.parametrize("quantity", ["0", "-1", "NaN", "Infinity"])
def test_price_invoice_rejects_non_positive_quantities(quantity: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [line(quantity, "1.00")])
    assert "line 1: quantity must be more than zero" in info.value.message
    assert quantity in info.value.message


def test_price_invoice_allows_four_quantity_decimals_but_not_five() -> None:
    price_invoice("EUR", [line("1.2345", "1.00")])
    price_invoice("EUR", [line("1.50000", "1.00")])  # trailing zeros are not decimals
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [line("1.23456", "1.00")])
    assert "quantity 1.23456 has more than 4 decimals" in info.value.message


def test_price_invoice_rejects_an_inexact_unit_price() -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [line("1", "10.005")])
    assert "line 1: unit price" in info.value.message
    assert "10.005" in info.value.message


def test_price_invoice_rejects_jpy_decimals() -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("JPY", [line("1", "10.5")])
    assert "JPY" in info.value.message


def test_price_invoice_rejects_a_negative_subtotal() -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [line("1", "10.00"), line("1", "-12.00")])
    assert "subtotal -2.00 EUR is below zero" in info.value.message
    with pytest.raises(InvalidRequest):
        price_invoice("EUR", [], subtotal=D("-0.01"))


def test_price_invoice_rejects_a_negative_discount() -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [], subtotal=D("10.00"), discount=D("-1.00"))
    assert "discount -1.00 EUR cannot be negative" in info.value.message


def test_price_invoice_rejects_a_discount_above_the_subtotal() -> None:
    assert price_invoice("EUR", [], subtotal=D("10"), discount=D("10")).total == D("0.00")
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [], subtotal=D("10.00"), discount=D("10.01"))
    assert "discount 10.01 EUR is more than the subtotal of 10.00 EUR" in info.value.message


def test_price_invoice_rejects_an_inexact_discount() -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [], subtotal=D("10.00"), discount=D("0.001"))
    assert "discount" in info.value.message


@pytest.mark.parametrize("rate", ["-0.0001", "100.0001", "250", "NaN"])
def test_price_invoice_rejects_tax_rates_outside_0_to_100(rate: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [], subtotal=D("1.00"), tax_rate=D(rate))
    assert f"tax rate {rate} must be a percentage from 0 to 100" in info.value.message


def test_price_invoice_limits_tax_rate_decimals() -> None:
    assert price_invoice("EUR", [], subtotal=D("1.00"), tax_rate=D("100")).total == D("2.00")
    price_invoice("EUR", [], subtotal=D("1.00"), tax_rate=D("7.1234"))
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [], subtotal=D("1.00"), tax_rate=D("7.12345"))
    assert "tax rate 7.12345 has more than 4 decimals" in info.value.message


def test_price_invoice_rejects_an_unknown_currency() -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("XXY", [line("1", "1")])
    assert "unknown currency" in info.value.message


def test_price_invoice_turns_overflowing_amounts_into_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as info:
        price_invoice("EUR", [line("9999999999999999", "99999999999999999.00")])
    assert "too large" in info.value.message
    with pytest.raises(InvalidRequest):
        price_invoice("EUR", [], subtotal=D("1E+40"))


# --- invoice_state -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "paid", "issued", "voided", "state"),
    [
        ("100.00", "0.00", False, False, InvoiceState.DRAFT),
        ("100.00", "0.00", True, False, InvoiceState.ISSUED),
        ("100.00", "0.01", True, False, InvoiceState.PARTIALLY_PAID),
        ("100.00", "99.99", True, False, InvoiceState.PARTIALLY_PAID),
        ("100.00", "100.00", True, False, InvoiceState.PAID),
        ("0.00", "0.00", True, False, InvoiceState.PAID),
        ("0.00", "0.00", False, False, InvoiceState.DRAFT),
        ("100.00", "0.00", True, True, InvoiceState.VOID),
        ("100.00", "0.00", False, True, InvoiceState.VOID),
    ],
)
def test_invoice_state(
    total: str, paid: str, issued: bool, voided: bool, state: InvoiceState
) -> None:
    assert invoice_state(D(total), D(paid), issued=issued, voided=voided) is state


def test_invoice_state_values_are_stable_strings() -> None:
    assert [state.value for state in InvoiceState] == [
        "draft",
        "issued",
        "partially_paid",
        "paid",
        "void",
    ]


@pytest.mark.parametrize(("total", "paid"), [("100.00", "100.01"), ("10.00", "-1.00")])
def test_invoice_state_rejects_impossible_figures(total: str, paid: str) -> None:
    with pytest.raises(ValueError, match="cannot have"):
        invoice_state(D(total), D(paid), issued=True, voided=False)


# --- allocate_payment ----------------------------------------------------------------------


def test_allocate_payment_pays_the_oldest_due_first() -> None:
    invoices = [
        invoice(1, "50.00", issued=date(2024, 1, 1), due=date(2024, 3, 1)),
        invoice(2, "30.00", issued=date(2024, 2, 1), due=date(2024, 2, 15)),
        invoice(3, "40.00", issued=date(2024, 1, 20)),  # due on issue: 2024-01-20
    ]
    allocation = allocate_payment(D("100.00"), "EUR", invoices)
    assert allocation.applied == ((3, D("40.00")), (2, D("30.00")), (1, D("30.00")))
    assert allocation.to_credit == D("0.00")
    assert allocation.total == D("100.00")


def test_allocate_payment_breaks_ties_by_issue_date_then_id() -> None:
    due = date(2024, 4, 1)
    invoices = [
        invoice(9, "10.00", issued=date(2024, 2, 1), due=due),
        invoice(5, "10.00", issued=date(2024, 3, 1), due=due),
        invoice(7, "10.00", issued=date(2024, 2, 1), due=due),
    ]
    allocation = allocate_payment(D("25.00"), "EUR", invoices)
    assert allocation.applied == ((7, D("10.00")), (9, D("10.00")), (5, D("5.00")))


def test_allocate_payment_does_not_depend_on_input_order() -> None:
    invoices = [invoice(n, "10.00", issued=DAY - timedelta(days=n % 3)) for n in range(1, 7)]
    forward = allocate_payment(D("35.00"), "EUR", invoices)
    backward = allocate_payment(D("35.00"), "EUR", list(reversed(invoices)))
    assert forward == backward


def test_allocate_payment_never_lists_zero_amounts() -> None:
    invoices = [
        invoice(1, "0.00"),
        invoice(2, "10.00"),
        invoice(3, "10.00", issued=DAY.replace(day=2)),
    ]
    allocation = allocate_payment(D("10.00"), "EUR", invoices)
    assert allocation.applied == ((2, D("10.00")),)


def test_allocate_payment_keeps_the_rest_as_credit_when_allowed() -> None:
    allocation = allocate_payment(D("80.00"), "EUR", [invoice(1, "50.00")], allow_credit=True)
    assert allocation == Allocation(((1, D("50.00")),), D("30.00"))


def test_allocate_payment_without_open_invoices_is_a_prepayment() -> None:
    allocation = allocate_payment(D("80"), "EUR", [], allow_credit=True)
    assert allocation.applied == ()
    assert str(allocation.to_credit) == "80.00"


def test_allocate_payment_refuses_credit_when_not_enabled() -> None:
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(D("80.00"), "EUR", [invoice(1, "50.00")])
    message = info.value.message
    assert "payment of 80.00 EUR exceeds the 50.00 EUR balance of the open invoices" in message
    assert "by 30.00 EUR" in message
    assert "prepayments/credit are not enabled" in message


def test_allocate_payment_refuses_partial_payments_when_off() -> None:
    invoices = [invoice(1, "50.00"), invoice(2, "50.00", issued=DAY.replace(day=2))]
    exact = allocate_payment(D("100.00"), "EUR", invoices, allow_partial=False)
    assert exact.applied == ((1, D("50.00")), (2, D("50.00")))
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(D("70.00"), "EUR", invoices, allow_partial=False)
    message = info.value.message
    assert message.startswith("partial payments are off for this firm")
    assert "invoice 2 would get 20.00 EUR of its 50.00 EUR balance" in message


def test_allocate_payment_partial_off_still_allows_credit() -> None:
    allocation = allocate_payment(
        D("60.00"), "EUR", [invoice(1, "50.00")], allow_partial=False, allow_credit=True
    )
    assert allocation == Allocation(((1, D("50.00")),), D("10.00"))


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.001"])
def test_allocate_payment_needs_a_positive_exact_amount(amount: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(D(amount), "EUR", [invoice(1, "50.00")])
    assert "the payment" in info.value.message
    assert amount in info.value.message or "more than zero" in info.value.message


def test_allocate_payment_follows_the_requested_amounts() -> None:
    invoices = [invoice(1, "50.00"), invoice(2, "30.00", issued=DAY.replace(day=2))]
    allocation = allocate_payment(
        D("60.00"), "EUR", invoices, {2: D("30.00"), 1: D("20.00")}, allow_credit=True
    )
    assert allocation.applied == ((1, D("20.00")), (2, D("30.00")))
    assert allocation.to_credit == D("10.00")


def test_allocate_payment_with_an_empty_request_puts_everything_on_credit() -> None:
    allocation = allocate_payment(D("10.00"), "EUR", [invoice(1, "50.00")], {}, allow_credit=True)
    assert allocation == Allocation((), D("10.00"))


def test_allocate_payment_requested_rest_needs_credit_enabled() -> None:
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(D("60.00"), "EUR", [invoice(1, "50.00")], {1: D("40.00")})
    message = info.value.message
    assert "payment of 60.00 EUR exceeds the 40.00 EUR it pays on invoices by 20.00 EUR" in message
    assert "prepayments/credit are not enabled" in message


def test_allocate_payment_requested_partial_is_refused_when_off() -> None:
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(
            D("40.00"), "EUR", [invoice(1, "50.00")], {1: D("40.00")}, allow_partial=False
        )
    assert "partial payments are off for this firm" in info.value.message


def test_allocate_payment_rejects_an_invoice_that_is_not_open() -> None:
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(D("10.00"), "EUR", [invoice(1, "50.00")], {4: D("10.00")})
    assert info.value.message == "invoice 4 is not open for payment"


def test_allocate_payment_rejects_more_than_the_balance() -> None:
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(D("100.00"), "EUR", [invoice(1, "50.00")], {1: D("50.01")})
    assert "invoice 1, 50.01 EUR, is more than its balance of 50.00 EUR" in info.value.message


def test_allocate_payment_rejects_requests_above_the_payment() -> None:
    invoices = [invoice(1, "50.00"), invoice(2, "50.00")]
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(D("60.00"), "EUR", invoices, {1: D("40.00"), 2: D("20.01")})
    assert "add up to 60.01 EUR, more than the payment of 60.00 EUR" in info.value.message
    exact = allocate_payment(D("60.00"), "EUR", invoices, {1: D("40.00"), 2: D("20.00")})
    assert exact.to_credit == 0


@pytest.mark.parametrize("requested", ["0.00", "-1.00", "1.001"])
def test_allocate_payment_rejects_non_positive_or_inexact_requests(requested: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(D("10.00"), "EUR", [invoice(1, "50.00")], {1: D(requested)})
    assert "the amount for invoice 1" in info.value.message


def test_allocate_payment_rejects_duplicate_or_negative_invoices_as_bugs() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        allocate_payment(D("10.00"), "EUR", [invoice(1, "5.00"), invoice(1, "5.00")])
    with pytest.raises(ValueError, match="non-negative"):
        allocate_payment(D("10.00"), "EUR", [invoice(1, "-5.00")])


def test_allocate_payment_in_jpy_and_kwd() -> None:
    yen = allocate_payment(D("1500"), "JPY", [invoice(1, "1000"), invoice(2, "1000")])
    assert yen.applied == ((1, D("1000")), (2, D("500")))
    with pytest.raises(InvalidRequest) as info:
        allocate_payment(D("1500.5"), "JPY", [invoice(1, "2000")])
    assert "JPY" in info.value.message
    dinar = allocate_payment(D("1.250"), "KWD", [invoice(1, "1.000")], allow_credit=True)
    assert dinar == Allocation(((1, D("1.000")),), D("0.250"))
    assert str(dinar.to_credit) == "0.250"


# --- check_credit_application --------------------------------------------------------------


def test_check_credit_application_returns_the_amount() -> None:
    applied = check_credit_application(
        D("20"), "EUR", credit_balance=D("30.00"), invoice_balance=D("20.00")
    )
    assert str(applied) == "20.00"


def test_check_credit_application_is_limited_by_the_credit() -> None:
    with pytest.raises(InvalidRequest) as info:
        check_credit_application(
            D("20.00"), "EUR", credit_balance=D("10.00"), invoice_balance=D("50.00")
        )
    assert "the customer has only 10.00 EUR credit" in info.value.message
    assert "20.00 EUR" in info.value.message


def test_check_credit_application_is_limited_by_the_invoice_balance() -> None:
    with pytest.raises(InvalidRequest) as info:
        check_credit_application(
            D("20.00"), "EUR", credit_balance=D("50.00"), invoice_balance=D("5.00")
        )
    assert "balance is only 5.00 EUR, less than the 20.00 EUR" in info.value.message


@pytest.mark.parametrize("amount", ["0", "-1", "0.001"])
def test_check_credit_application_needs_a_positive_exact_amount(amount: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_credit_application(
            D(amount), "EUR", credit_balance=D("50.00"), invoice_balance=D("50.00")
        )
    assert "the credit to apply" in info.value.message


def test_check_credit_application_in_kwd() -> None:
    applied = check_credit_application(
        D("0.005"), "KWD", credit_balance=D("0.005"), invoice_balance=D("1.000")
    )
    assert applied == D("0.005")


# --- plan_refund ---------------------------------------------------------------------------


def refund(
    amount: str,
    *,
    refundable: str = "100.00",
    unapplied: str = "0.00",
    credit: str = "0.00",
    allocations: tuple[tuple[int, str], ...] = (),
    currency: str = "EUR",
) -> RefundPlan:
    return plan_refund(
        D(amount),
        currency,
        refundable=D(refundable),
        unapplied=D(unapplied),
        credit_balance=D(credit),
        allocations=[(invoice_id, D(share)) for invoice_id, share in allocations],
    )


def test_plan_refund_takes_from_credit_first() -> None:
    plan = refund("20.00", unapplied="30.00", credit="30.00", allocations=((1, "70.00"),))
    assert plan == RefundPlan(D("20.00"), ())
    assert plan.total == D("20.00")


def test_plan_refund_then_reverses_the_latest_allocation_first() -> None:
    plan = refund(
        "65.00",
        unapplied="10.00",
        credit="10.00",
        allocations=((1, "40.00"), (2, "30.00"), (3, "20.00")),
    )
    assert plan.from_credit == D("10.00")
    assert plan.reversals == ((3, D("20.00")), (2, D("30.00")), (1, D("5.00")))
    assert plan.total == D("65.00")


def test_plan_refund_uses_only_credit_still_held() -> None:
    plan = refund("50.00", unapplied="30.00", credit="10.00", allocations=((1, "70.00"),))
    assert plan == RefundPlan(D("10.00"), ((1, D("40.00")),))


def test_plan_refund_does_not_take_other_credit() -> None:
    plan = refund("10.00", unapplied="0.00", credit="500.00", allocations=((1, "100.00"),))
    assert plan == RefundPlan(D("0.00"), ((1, D("10.00")),))


def test_plan_refund_conflicts_when_the_credit_was_spent_elsewhere() -> None:
    with pytest.raises(Conflict) as info:
        refund(
            "100.00", refundable="100.00", unapplied="60.00", credit="20.00",
            allocations=((1, "40.00"),),
        )  # fmt: skip
    message = info.value.message
    assert "credit from this payment has been used on other invoices" in message
    assert "only 60.00 EUR of it can be refunded now, not 100.00 EUR" in message
    assert "smaller" in message


def test_plan_refund_conflicts_even_one_minor_unit_over() -> None:
    standing = ((1, "40.00"),)
    plan = refund("60.00", unapplied="60.00", credit="20.00", allocations=standing)
    assert plan == RefundPlan(D("20.00"), ((1, D("40.00")),))
    with pytest.raises(Conflict) as info:
        refund("60.01", unapplied="60.00", credit="20.00", allocations=standing)
    assert "only 60.00 EUR of it can be refunded now, not 60.01 EUR" in info.value.message


def test_plan_refund_is_limited_to_what_is_refundable() -> None:
    with pytest.raises(InvalidRequest) as info:
        refund("100.01", refundable="100.00", allocations=((1, "100.00"),))
    assert "refund of 100.01 EUR is more than the 100.00 EUR" in info.value.message


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.005"])
def test_plan_refund_needs_a_positive_exact_amount(amount: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        refund(amount, allocations=((1, "100.00"),))
    assert "the refund" in info.value.message


def test_plan_refund_in_jpy() -> None:
    plan = refund(
        "1500", refundable="3000", unapplied="1000", credit="1000",
        allocations=((1, "2000"),), currency="JPY",
    )  # fmt: skip
    assert plan == RefundPlan(D("1000"), ((1, D("500")),))


# --- split_credit_note ---------------------------------------------------------------------


def test_split_credit_note_pays_the_invoice_first() -> None:
    assert split_credit_note(D("30.00"), "EUR", D("50.00")) == CreditNoteSplit(
        D("30.00"), D("0.00")
    )
    assert split_credit_note(D("80.00"), "EUR", D("50.00")) == CreditNoteSplit(
        D("50.00"), D("30.00")
    )


def test_split_credit_note_without_an_invoice_is_all_credit() -> None:
    split = split_credit_note(D("30"), "EUR", None)
    assert (str(split.to_invoice), str(split.to_credit)) == ("0.00", "30.00")


def test_split_credit_note_on_a_paid_invoice_is_all_credit() -> None:
    assert split_credit_note(D("1.500"), "KWD", D("0.000")) == CreditNoteSplit(D("0"), D("1.500"))


@pytest.mark.parametrize("total", ["0", "-3.00", "1.001"])
def test_split_credit_note_needs_a_positive_exact_total(total: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        split_credit_note(D(total), "EUR", None)
    assert "the credit note total" in info.value.message


# --- statement_figures ---------------------------------------------------------------------


def test_statement_figures_open_run_and_close() -> None:
    entries = [
        LedgerEntry(date(2024, 1, 5), "Invoice 1", D("100.00")),
        LedgerEntry(date(2024, 1, 20), "Payment", D("-60.00")),
        LedgerEntry(date(2024, 2, 3), "Invoice 2", D("50.00")),
        LedgerEntry(date(2024, 2, 10), "Credit note 1", D("-10.00")),
        LedgerEntry(date(2024, 3, 1), "Invoice 3", D("70.00")),
    ]
    figures = statement_figures(entries, date(2024, 2, 1), date(2024, 2, 29))
    assert figures.opening_balance == D("40.00")
    assert [(line.description, line.balance) for line in figures.lines] == [
        ("Invoice 2", D("90.00")),
        ("Credit note 1", D("80.00")),
    ]
    assert figures.closing_balance == D("80.00")


def test_statement_figures_includes_both_ends_and_sorts_stably() -> None:
    entries = [
        LedgerEntry(date(2024, 1, 31), "late", D("3.00")),
        LedgerEntry(date(2024, 1, 1), "first", D("1.00")),
        LedgerEntry(date(2024, 1, 31), "later", D("-2.00")),
        LedgerEntry(date(2024, 1, 1), "second", D("5.00")),
    ]
    figures = statement_figures(entries, date(2024, 1, 1), date(2024, 1, 31))
    assert [line.description for line in figures.lines] == ["first", "second", "late", "later"]
    assert [line.balance for line in figures.lines] == [D(1), D(6), D(9), D(7)]
    assert figures.opening_balance == D(0)
    assert figures.closing_balance == D("7.00")


def test_statement_figures_with_nothing_in_the_period() -> None:
    entries = [LedgerEntry(date(2024, 1, 1), "Invoice 1", D("10.00"))]
    figures = statement_figures(entries, date(2024, 6, 1), date(2024, 6, 1))
    assert figures.lines == ()
    assert figures.opening_balance == figures.closing_balance == D("10.00")


def test_statement_figures_rejects_a_backwards_period() -> None:
    with pytest.raises(InvalidRequest) as info:
        statement_figures([], date(2024, 2, 1), date(2024, 1, 31))
    assert "starts on 2024-02-01, after its end on 2024-01-31" in info.value.message


# --- properties ----------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["EUR", "JPY", "KWD"])


def money(currency: str, low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Amounts at `currency`'s scale, from `low` to `high` minor units."""
    return st.integers(low, high).map(lambda units: units * quantum(currency))


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
