"""Tests for payment allocation, credit application, refunds and credit notes in billing.ledger."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from billing.errors import Conflict, InvalidRequest
from billing.ledger import (
    Allocation,
    CreditNoteSplit,
    RefundPlan,
    allocate_payment,
    check_credit_application,
    plan_refund,
    split_credit_note,
)
from tests.billing.ledger_cases import DAY, D, invoice


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
