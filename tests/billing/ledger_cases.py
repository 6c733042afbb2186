"""Shared helpers and strategies for the billing.ledger tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import strategies as st

from billing.ledger import (
    LineInput,
    OpenInvoice,
)
from billing.money import quantum

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


CURRENCIES = st.sampled_from(["EUR", "JPY", "KWD"])


def money(currency: str, low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Amounts at `currency`'s scale, from `low` to `high` minor units."""
    return st.integers(low, high).map(lambda units: units * quantum(currency))
