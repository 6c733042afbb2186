"""Pricing shared by invoices, estimates, credit notes and schedules: lines in, figures out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal

from billing.errors import InvalidRequest
from billing.ledger import InvoiceTotals, LineInput, PricedLine, price_invoice
from billing.models import Estimate, Invoice
from billing.money import ZERO
from billing.schemas import LineIn


def price_lines(
    currency: str,
    lines: Iterable[LineIn],
    *,
    subtotal: Decimal | None = None,
    discount: Decimal = ZERO,
    tax_rate: Decimal = ZERO,
) -> InvoiceTotals:
    """The figures of these line items (or of the plain subtotal when there are none)."""
    return price_invoice(
        currency,
        [LineInput(line.description, line.quantity, line.unit_price) for line in lines],
        subtotal=subtotal,
        discount=discount,
        tax_rate=tax_rate,
    )


def stored_line(
    line: PricedLine, quantity: Callable[[Decimal], str] = str, *, amount: bool = True
) -> dict[str, str]:
    """A priced line as a document stores it in JSON (the amount left out on request)."""
    stored = {
        "description": line.description,
        "quantity": quantity(line.quantity),
        "unit_price": str(line.unit_price),
    }
    if amount:
        stored["amount"] = str(line.amount)
    return stored


def lines_in(stored: Iterable[Mapping[str, str]]) -> list[LineIn]:
    """Line items back from their stored JSON form."""
    return [
        LineIn(
            description=line["description"],
            quantity=Decimal(line["quantity"]),
            unit_price=Decimal(line["unit_price"]),
        )
        for line in stored
    ]


def set_totals(document: Invoice | Estimate, totals: InvoiceTotals, tax_rate: Decimal) -> None:
    """Copy the figures onto the document (its lines are set by the caller)."""
    document.subtotal, document.discount = totals.subtotal, totals.discount
    document.tax_rate, document.tax, document.total = tax_rate, totals.tax, totals.total


def check_dates(issue_date: date, later: date | None, what: str) -> None:
    """InvalidRequest when the `what` date (due, expiry...) comes before the issue date."""
    if later is not None and later < issue_date:
        raise InvalidRequest(f"{what} date {later} is before the issue date {issue_date}")
