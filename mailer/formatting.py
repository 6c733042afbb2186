"""Locale-aware formatting of money, quantities and dates for emails and PDFs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date as _babel_format_date
from babel.numbers import format_currency, format_decimal


def format_money(amount: Decimal | int | str | None, currency: str, locale: str) -> str:
    """`1234.5, EUR, fr` -> `1 234,50 €`, with the currency's own minor units."""
    if amount is None:
        return ""
    return format_currency(
        Decimal(str(amount)), currency.upper(), locale=locale, currency_digits=True
    )


def format_quantity(quantity: Decimal | int | str, locale: str) -> str:
    """`1.50` -> `1.5` (en), `1,5` (fr): no trailing zeros, locale separators."""
    value = Decimal(str(quantity)).normalize()
    return format_decimal(value, locale=locale)


def format_day(day: date | datetime | str | None, locale: str) -> str:
    """A calendar date in the locale's medium form (`Nov 1, 2026`, `1 nov. 2026`)."""
    if day is None:
        return ""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    if isinstance(day, datetime):
        day = day.date()
    return _babel_format_date(day, format="medium", locale=locale)
