"""Billing records as the template context of `mail.send` and `sms.send` (pure: rows in, dicts out).

The same context feeds the email's PDF and `GET /api/invoices/{id}/pdf`, so both are one PDF."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from billing.models import BillingSettings, Customer, Invoice, InvoiceLine
from billing.money import round_money


def money_text(amount: Decimal, currency: str) -> str:
    """An amount as the events carry it: a string at the currency's scale."""
    return str(round_money(amount, currency))


def quantity_text(quantity: Decimal) -> str:
    text = format(quantity.normalize(), "f")
    return text


def company_context(settings: BillingSettings) -> dict[str, Any]:
    return _without_none(
        {
            "name": settings.company_name,
            "email": settings.company_email,
            "address": settings.company_address,
            "phone": settings.company_phone,
            "tax_id": settings.company_tax_id,
        }
    )


def customer_context(customer: Customer) -> dict[str, Any]:
    return _without_none(
        {"name": customer.name, "email": customer.email, "address": customer.address}
    )


def lines_context(
    lines: Sequence[InvoiceLine] | Sequence[dict[str, str]], currency: str
) -> list[dict[str, str]]:
    result = []
    for line in lines:
        if isinstance(line, dict):
            description = line["description"]
            quantity, unit_price, amount = (
                Decimal(line["quantity"]),
                Decimal(line["unit_price"]),
                Decimal(line["amount"]),
            )
        else:
            description, quantity = line.description, line.quantity
            unit_price, amount = line.unit_price, line.amount
        result.append(
            {
                "description": description,
                "quantity": quantity_text(quantity),
                "unit_price": money_text(unit_price, currency),
                "amount": money_text(amount, currency),
            }
        )
    return result


def invoice_context(invoice: Invoice) -> dict[str, Any]:
    """The invoice as the templates and the PDF show it."""
    currency = invoice.currency
    return _without_none(
        {
            "number": invoice.number or "DRAFT",
            "issue_date": invoice.issue_date.isoformat(),
            "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
            "currency": currency,
            "lines": lines_context(invoice.lines, currency),
            "subtotal": money_text(invoice.subtotal, currency),
            "discount": money_text(invoice.discount, currency),
            "tax": money_text(invoice.tax, currency),
            "total": money_text(invoice.total, currency),
            "amount_paid": money_text(invoice.amount_paid, currency),
            "balance": money_text(invoice.balance, currency),
            "notes": invoice.notes,
        }
    )


def links_context(
    settings: BillingSettings, path: str | None, pay_path: str | None = None
) -> dict[str, str]:
    """Portal links when the firm has a portal URL; none otherwise (the templates cope)."""
    if not settings.portal_url:
        return {}
    base = settings.portal_url.rstrip("/")
    links = {}
    if path:
        links["view"] = f"{base}/{quote(path)}"
    if pay_path:
        links["pay"] = f"{base}/{quote(pay_path)}"
    return links


def invoice_links(settings: BillingSettings, invoice: Invoice) -> dict[str, str]:
    number = invoice.number or f"draft-{invoice.id}"
    return links_context(settings, f"invoices/{number}", f"pay/{number}")


def invoice_template_data(
    settings: BillingSettings, customer: Customer, invoice: Invoice
) -> dict[str, Any]:
    """The context of every invoice email (new, reminder, late reminder, thank you, plan)."""
    return {
        "company": company_context(settings),
        "customer": customer_context(customer),
        "invoice": invoice_context(invoice),
        "links": invoice_links(settings, invoice),
    }


def send_event(
    *,
    request_id: str,
    tenant: str,
    template: str,
    customer: Customer,
    data: dict[str, Any],
    thread: str | None = None,
) -> dict[str, Any]:
    """A `mail.send` event to the customer (and its cc addresses)."""
    if customer.email is None:
        raise ValueError("the customer has no email address")
    event: dict[str, Any] = {
        "id": request_id,
        "tenant": tenant,
        "template": template,
        "to": [{"email": customer.email, "name": customer.name[:256]}],
        "cc": [{"email": address} for address in customer.cc_emails],
        "locale": customer.locale,
        "data": data,
    }
    if thread:
        event["thread"] = thread
    return event


def sms_event(
    *,
    request_id: str,
    tenant: str,
    template: str,
    customer: Customer,
    data: dict[str, Any],
) -> dict[str, Any]:
    """An `sms.send` event to the customer's mobile phone."""
    if customer.mobile_phone is None:
        raise ValueError("the customer has no mobile phone number")
    return {
        "id": request_id,
        "tenant": tenant,
        "to": customer.mobile_phone,
        "template": template,
        "locale": customer.locale,
        "data": data,
    }


def request_id(tenant: str, document: str, document_id: int, template: str, *parts: object) -> str:
    """The idempotency key of a billing email: the same document, template and version (and
    step) always give the same key, so a replayed event never sends a second email."""
    suffix = "".join(f".{part}" for part in parts)
    return f"billing.{tenant}.{document}{document_id}.{template}{suffix}"


def iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
