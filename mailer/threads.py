"""Which A/R inbox thread a send event belongs to."""

from __future__ import annotations

from mailer.catalog import CATALOG
from mailer.events import SendEvent


def thread_key(event: SendEvent) -> str:
    """The event's own thread, else the invoice its main document concerns, else the customer."""
    if event.thread:
        return event.thread
    data = event.data
    primary = CATALOG[event.template].requires[0]
    if primary == "invoice" and data.invoice is not None:
        return data.invoice.number
    if primary == "credit_note" and data.credit_note is not None:
        return data.credit_note.invoice_number or data.credit_note.number
    if primary == "payment" and data.payment is not None and len(data.payment.invoices) == 1:
        return data.payment.invoices[0].number
    customer = data.customer
    return f"customer:{(customer.email or customer.name).lower()}"
