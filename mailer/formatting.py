"""Locale-aware formatting of money, quantities and dates for emails and PDFs."""

from __future__ import annotations

import functools
from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date as _babel_format_date
from babel.numbers import format_currency, format_decimal

# Babel takes a tenth of a millisecond per amount, and a 2-page invoice shows dozens of them,
# many alike (prices, totals, the same customers' balances): the formatted texts are kept.
_CACHED = 16384


def format_money(amount: Decimal | int | str | None, currency: str, locale: str) -> str:
    """`1234.5, EUR, fr` -> `1 234,50 €`, with the currency's own minor units."""
    if amount is None:
        return ""
    return _money(str(amount), currency.upper(), locale)


@functools.lru_cache(maxsize=_CACHED)
def _money(amount: str, currency: str, locale: str) -> str:
    return format_currency(Decimal(amount), currency, locale=locale, currency_digits=True)


def format_quantity(quantity: Decimal | int | str, locale: str) -> str:
    """`1.50` -> `1.5` (en), `1,5` (fr): no trailing zeros, locale separators."""
    return _quantity(str(quantity), locale)


@functools.lru_cache(maxsize=_CACHED)
def _quantity(quantity: str, locale: str) -> str:
    return format_decimal(Decimal(quantity).normalize(), locale=locale)


def format_day(day: date | datetime | str | None, locale: str) -> str:
    """A calendar date in the locale's medium form (`Nov 1, 2026`, `1 nov. 2026`)."""
    if day is None:
        return ""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    if isinstance(day, datetime):
        day = day.date()
    return _day(day, locale)


@functools.lru_cache(maxsize=_CACHED)
def _day(day: date, locale: str) -> str:
    return _babel_format_date(day, format="medium", locale=locale)
