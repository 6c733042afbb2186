"""The benchmark's events: valid, deterministic, two-page invoices, reminders of rendered PDFs."""

from __future__ import annotations

import io
import json
from itertools import islice

import pypdf

from bench.events import (
    TENANT,
    Workload,
    event_id,
    message_id,
    month_end_kinds,
    workload_events,
)
from mailer.catalog import DocumentKind
from mailer.events import SendEvent, TemplateName
from mailer.mime import make_message_id
from mailer.pdf import render_document


def test_message_ids_are_the_services_for_tenant_bench() -> None:
    ident = event_id("plain", 7)
    assert ident == "plain-000007"
    assert message_id(ident) == make_message_id(TENANT, ident, "bench.example")
    assert message_id(ident) != message_id(event_id("plain", 8))


def test_every_workload_yields_valid_events_with_unique_ids() -> None:
    for workload in Workload:
        events = list(workload_events(workload, workload.value, 12, cycle=3))
        assert len({ident for ident, _ in events}) == 12
        for ident, body in events:
            event = SendEvent.model_validate_json(body)
            assert (event.id, event.tenant) == (ident, TENANT)


def test_plain_events_have_no_pdf_and_pdf_events_have_different_invoices() -> None:
    [(_, plain)] = list(workload_events(Workload.PLAIN, "p", 1))
    assert json.loads(plain)["attach_pdf"] is False
    first, second = (
        SendEvent.model_validate_json(body) for _, body in workload_events(Workload.PDF, "d", 2)
    )
    assert first.template is TemplateName.INVOICE_NEW and first.attach_pdf
    assert first.data.invoice and second.data.invoice
    assert first.data.invoice.number != second.data.invoice.number
    assert first.data.invoice.total != second.data.invoice.total


def test_reminders_carry_the_documents_of_the_invoices_already_sent() -> None:
    invoices = [
        SendEvent.model_validate_json(body).data
        for _, body in workload_events(Workload.PDF, "w", 3)
    ]
    reminders = [
        SendEvent.model_validate_json(body)
        for _, body in workload_events(Workload.REMINDER, "r", 7, cycle=3)
    ]
    assert all(r.template is TemplateName.INVOICE_REMINDER and r.attach_pdf for r in reminders)
    assert [r.data for r in reminders] == [invoices[i % 3] for i in range(7)]


def test_month_end_is_thirty_percent_pdf_shuffled_the_same_way_each_time() -> None:
    kinds = month_end_kinds(1000)
    assert sum(kinds) == 300
    assert kinds == month_end_kinds(1000)
    assert kinds != sorted(kinds, reverse=True)
    templates = [
        SendEvent.model_validate_json(body).attach_pdf
        for _, body in islice(workload_events(Workload.MONTH_END, "m", 1000), 20)
    ]
    assert templates == kinds[:20]


def test_the_invoice_pdf_has_two_pages() -> None:
    [(_, body)] = list(workload_events(Workload.PDF, "pages", 1))
    pdf = render_document(DocumentKind.INVOICE, SendEvent.model_validate_json(body).data, "en")
    assert len(pypdf.PdfReader(io.BytesIO(pdf.data)).pages) == 2
