"""Tests for price_invoice and invoice_state in billing.ledger."""

from __future__ import annotations

import pytest

from billing.errors import InvalidRequest
from billing.ledger import (
    InvoiceState,
    invoice_state,
    price_invoice,
)
from tests.billing.ledger_cases import D, line


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
