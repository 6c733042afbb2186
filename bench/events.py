"""The benchmark's event documents, generated deterministically from the example events."""

from __future__ import annotations

import copy
import enum
import functools
import json
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from mailer.mime import make_message_id

TENANT = "bench"
MESSAGE_ID_DOMAIN = "bench.example"
INVOICE_LINES = 30
"""Enough lines for the invoice PDF to take two pages (the tests check it with pypdf)."""
PDF_SHARE = 0.3
"""The month-end run's share of invoice emails with a PDF; the rest are plain reminders."""
MONTH_END_SEED = 2026

_EXAMPLE_DIRS = (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "events",
    Path("/work/shared/examples/events"),
)
_CENT = Decimal("0.01")


class Workload(enum.StrEnum):
    """Which events a publisher sends; each event is a pure function of its index."""

    PLAIN = "plain"
    PDF = "pdf"
    REMINDER = "reminder"
    MONTH_END = "month-end"


@functools.cache
def _example(name: str) -> dict[str, Any]:
    for directory in _EXAMPLE_DIRS:
        path = directory / f"{name}.json"
        if path.is_file():
            document: dict[str, Any] = json.loads(path.read_text())
            return document
    raise FileNotFoundError(f"no example event {name}.json in {_EXAMPLE_DIRS}")


def event_id(prefix: str, index: int) -> str:
    return f"{prefix}-{index:06d}"


def message_id(event_id_: str) -> str:
    """The Message-ID the service gives the email of `event_id_` (its DKIM domain's)."""
    return make_message_id(TENANT, event_id_, MESSAGE_ID_DOMAIN)


def invoice_data(number: int, *, lines: int) -> dict[str, Any]:
    """The example invoice's data with `lines` lines and amounts that depend on `number`."""
    data: dict[str, Any] = copy.deepcopy(_example("invoice.new")["data"])
    customer = f"Customer {number}"
    data["customer"] = {"name": customer, "email": f"customer{number}@example.org"}
    unit = Decimal(100 + number % 900) + Decimal(number % 97) * _CENT
    items = []
    for line in range(1, lines + 1):
        quantity = Decimal(1 + line % 3)
        items.append(
            {
                "description": f"Bookkeeping, month {line}",
                "quantity": str(quantity),
                "unit_price": str(unit),
                "amount": str(quantity * unit),
            }
        )
    subtotal = sum((Decimal(item["amount"]) for item in items), Decimal(0))
    tax = (subtotal * Decimal("0.2")).quantize(_CENT)
    total = subtotal + tax
    data["invoice"] |= {
        "number": f"INV-{number:07d}",
        "lines": items,
        "subtotal": str(subtotal),
        "tax": str(tax),
        "total": str(total),
        "amount_paid": "0.00",
        "balance": str(total),
    }
    return data


def _event(template: str, ident: str, number: int, *, attach_pdf: bool, lines: int) -> bytes:
    data = invoice_data(number, lines=lines)
    document = {
        "id": ident,
        "tenant": TENANT,
        "template": template,
        "to": [{"email": data["customer"]["email"], "name": data["customer"]["name"]}],
        "locale": "en",
        "attach_pdf": attach_pdf,
        "data": data,
    }
    return json.dumps(document).encode()


def plain_reminder(ident: str, number: int) -> bytes:
    """An invoice.reminder without a PDF (the example's three invoice lines)."""
    return _event("invoice.reminder", ident, number, attach_pdf=False, lines=3)


def invoice_with_pdf(ident: str, number: int) -> bytes:
    """An invoice.new for invoice `number`, with its two-page PDF."""
    return _event("invoice.new", ident, number, attach_pdf=True, lines=INVOICE_LINES)


def reminder_with_pdf(ident: str, number: int) -> bytes:
    """An invoice.reminder with the PDF of invoice `number`: its invoice.new's document."""
    return _event("invoice.reminder", ident, number, attach_pdf=True, lines=INVOICE_LINES)


def month_end_kinds(count: int, seed: int = MONTH_END_SEED) -> list[bool]:
    """For each index of a month-end run, whether it is an invoice with a PDF (shuffled, seeded)."""
    with_pdf = round(count * PDF_SHARE)
    kinds = [True] * with_pdf + [False] * (count - with_pdf)
    random.Random(seed).shuffle(kinds)
    return kinds


def workload_events(
    workload: Workload, prefix: str, count: int, *, cycle: int = 1
) -> Iterator[tuple[str, bytes]]:
    """(event id, JSON body) for each of `count` events, generated lazily.

    Reminders cycle over invoices 0..cycle-1, which are the documents of the PDF workload's
    first `cycle` events, so their PDFs are the ones already rendered.
    """
    kinds = month_end_kinds(count) if workload is Workload.MONTH_END else []
    for index in range(count):
        ident = event_id(prefix, index)
        if workload is Workload.PLAIN:
            yield ident, plain_reminder(ident, index)
        elif workload is Workload.PDF:
            yield ident, invoice_with_pdf(ident, index)
        elif workload is Workload.REMINDER:
            yield ident, reminder_with_pdf(ident, index % cycle)
        elif kinds[index]:
            yield ident, invoice_with_pdf(ident, index)
        else:
            yield ident, plain_reminder(ident, index)
