"""Tests for statement_figures in billing.ledger."""

from __future__ import annotations

from datetime import date

import pytest

from billing.errors import InvalidRequest
from billing.ledger import (
    LedgerEntry,
    statement_figures,
)
from tests.billing.ledger_cases import D

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
