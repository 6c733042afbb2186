"""The exact money column type every billing table uses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Numeric,
    String,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine


class Amount(TypeDecorator[Decimal]):
    """Exact decimals everywhere: NUMERIC on PostgreSQL, text on SQLite (whose numbers are floats).

    Sums are therefore taken in Python, never with SQL SUM. PostgreSQL hands values back at
    scale 4 (150.1000): present amounts with `billing.money.round_money`."""

    impl = Numeric(20, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(20, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError("amounts are stored from Decimal only")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


def amount_column() -> Mapped[Decimal]:
    return mapped_column(Amount(), default=Decimal(0))
