"""Money as Decimal in a currency's minor units: parsing, rounding and splitting amounts."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.core import get_global
from babel.numbers import UnknownCurrencyError, get_currency_precision

from billing.errors import InvalidRequest

ZERO = Decimal(0)


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """How many decimals `currency` has (EUR 2, JPY 0, KWD 3); InvalidRequest if unknown."""
    code = currency.upper()
    if len(code) != 3 or code not in get_global("all_currencies"):
        raise InvalidRequest(f"unknown currency {currency!r} (use an ISO 4217 code such as EUR)")
    try:
        return int(get_currency_precision(code))
    except UnknownCurrencyError as exc:  # listed but without data: treat as unknown
        raise InvalidRequest(f"unknown currency {currency!r}") from exc


def quantum(currency: str) -> Decimal:
    """The smallest amount of `currency` (0.01 for EUR, 1 for JPY)."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half-up to `currency`'s minor units (for computed amounts: tax, lines)."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def exact_money(amount: Decimal | str | int, currency: str, what: str = "amount") -> Decimal:
    """A given amount at `currency`'s scale; InvalidRequest if it has more decimals than that.

    Amounts people type are never rounded silently: 10.005 EUR is an error, not 10.01.
    """
    try:
        value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    except InvalidOperation as exc:
        raise InvalidRequest(f"{what}: not a number: {amount!r}") from exc
    if not value.is_finite():
        raise InvalidRequest(f"{what}: must be a finite number")
    try:
        scaled = value.quantize(quantum(currency), rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:  # more digits than the decimal context holds
        raise InvalidRequest(f"{what}: {value} is too large") from exc
    if scaled != value:
        raise InvalidRequest(
            f"{what}: {value} has more decimals than {currency.upper()} allows "
            f"({minor_units(currency)})"
        )
    return scaled


def positive_money(amount: Decimal | str | int, currency: str, what: str = "amount") -> Decimal:
    """`exact_money`, and more than zero."""
    value = exact_money(amount, currency, what)
    if value <= ZERO:
        raise InvalidRequest(f"{what}: must be more than zero")
    return value


def split_evenly(total: Decimal, parts: int, currency: str) -> list[Decimal]:
    """`total` in `parts` amounts that differ by at most one minor unit and add up exactly."""
    if parts < 1:
        raise InvalidRequest("cannot split into fewer than one part")
    unit = quantum(currency)
    units = int(exact_money(total, currency) / unit)
    base, extra = divmod(units, parts)
    return [unit * (base + (1 if index < extra else 0)) for index in range(parts)]


def money_sum(amounts: Sequence[Decimal]) -> Decimal:
    """The sum of `amounts`, starting from an exact Decimal zero."""
    return sum(amounts, ZERO)
