"""Document PDFs (invoices, estimates, credit notes, receipts, statements): values in, bytes out."""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError
from markupsafe import Markup
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from mailer.catalog import DocumentKind, resolve_locale
from mailer.errors import RenderError
from mailer.events import Invoice, PaymentInvoice, StatementEntry, TemplateData
from mailer.formatting import format_day, format_money, format_quantity
from mailer.message import Attachment

__all__ = [
    "ASSETS_DIR",
    "PDF_CONTENT_TYPE",
    "AssetsOnlyFetcher",
    "FetchRefused",
    "build_document_html",
    "document_filename",
    "html_to_pdf",
    "render_document",
    "warm_up",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
PDF_TEMPLATES_DIR = TEMPLATES_DIR / "pdf"
ASSETS_DIR = PDF_TEMPLATES_DIR / "assets"
STRINGS_DIR = PDF_TEMPLATES_DIR / "strings"
PDF_CONTENT_TYPE = "application/pdf"

_TEMPLATE_FOR_KIND = {
    DocumentKind.INVOICE: "invoice.html.j2",
    DocumentKind.ESTIMATE: "invoice.html.j2",
    DocumentKind.CREDIT_NOTE: "credit_note.html.j2",
    DocumentKind.RECEIPT: "receipt.html.j2",
    DocumentKind.REFUND: "receipt.html.j2",
    DocumentKind.STATEMENT: "statement.html.j2",
}
_ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
_MAX_FILENAME_PART = 80


# --- HTML -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Formatter:
    """Locale-bound number and date formatting for the templates."""

    locale: str

    def money(self, amount: Decimal | None, currency: str) -> str:
        return format_money(amount, currency, self.locale)

    def quantity(self, quantity: Decimal) -> str:
        return format_quantity(quantity, self.locale)

    def day(self, day: date | None) -> str:
        return format_day(day, self.locale)


@dataclass(frozen=True, slots=True)
class _PaymentPage:
    """One invoice a payment was applied to, with the full invoice when the event carries it."""

    entry: PaymentInvoice
    invoice: Invoice | None


@dataclass(frozen=True, slots=True)
class _StatementRow:
    """A statement entry with the balance after it."""

    entry: StatementEntry
    balance: Decimal


def build_document_html(kind: DocumentKind, data: TemplateData, locale: str) -> str:
    """The document's HTML, localized; tenant text is escaped."""
    locale = resolve_locale(locale)
    strings = _strings(locale)
    context: dict[str, Any] = {
        "kind": kind.value,
        "locale": locale,
        "t": strings,
        "fmt": _Formatter(locale),
        "company": data.company,
        "customer": data.customer,
        "page_counter_css": Markup(_page_counter_css(strings["page_of"])),  # noqa: S704 - escaped for CSS
        **_document_context(kind, data),
    }
    try:
        return _environment().get_template(_TEMPLATE_FOR_KIND[kind]).render(context)
    except TemplateError as exc:
        raise RenderError(f"{kind.value} PDF template failed: {exc}") from exc


def _document_context(kind: DocumentKind, data: TemplateData) -> dict[str, Any]:
    if kind in (DocumentKind.INVOICE, DocumentKind.ESTIMATE):
        return {"invoice": _require(data.invoice, "invoice", kind)}
    if kind is DocumentKind.CREDIT_NOTE:
        return {"credit_note": _require(data.credit_note, "credit_note", kind)}
    if kind in (DocumentKind.RECEIPT, DocumentKind.REFUND):
        payment = _require(data.payment, "payment", kind)
        known = _known_invoices(data)
        pages = [_PaymentPage(entry, known.get(entry.number)) for entry in payment.invoices]
        return {"payment": payment, "invoice_pages": pages}
    statement = _require(data.statement, "statement", kind)
    return {
        "statement": statement,
        "rows": list(_running_balance(statement.opening_balance, statement.entries)),
    }


def _require(value: _T | None, name: str, kind: DocumentKind) -> _T:
    if value is None:
        raise RenderError(f"a {kind.value} PDF needs data.{name}")
    return value


def _known_invoices(data: TemplateData) -> dict[str, Invoice]:
    """Full invoices by number: `data.invoices`, then `data.invoice`."""
    known = {invoice.number: invoice for invoice in data.invoices}
    if data.invoice is not None:
        known[data.invoice.number] = data.invoice
    return known


def _running_balance(opening: Decimal, entries: list[StatementEntry]) -> Iterator[_StatementRow]:
    balance = opening
    for entry in entries:
        balance += entry.amount
        yield _StatementRow(entry, entry.balance if entry.balance is not None else balance)


def _page_counter_css(template: str) -> str:
    """`Page {page} of {pages}` -> `"Page " counter(page) " of " counter(pages)`."""
    counters = {"{page}": "counter(page)", "{pages}": "counter(pages)"}
    parts = re.split(r"(\{pages?\})", template)
    return " ".join(counters.get(part) or _css_string(part) for part in parts if part)


def _css_string(text: str) -> str:
    """A CSS string literal that cannot close the string or the `<style>` element."""
    escaped = "".join(ch if ch.isalnum() or ch == " " else f"\\{ord(ch):x} " for ch in text)
    return f'"{escaped}"'


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(PDF_TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def _strings(locale: str) -> Mapping[str, str]:
    path = STRINGS_DIR / f"{locale}.json"
    strings: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return strings


# --- File name --------------------------------------------------------------------------------


def document_filename(kind: DocumentKind, data: TemplateData, locale: str) -> str:
    """`Invoice-INV-10001.pdf`, `Facture-INV-10001.pdf`: localized, ASCII letters, digits, `.-_`."""
    word = _safe_filename_part(_strings(resolve_locale(locale))[f"file_{kind.value}"])
    identifier = _safe_filename_part(_document_identifier(kind, data))
    return f"{word}-{identifier}.pdf" if identifier else f"{word}.pdf"


def _document_identifier(kind: DocumentKind, data: TemplateData) -> str:
    if kind in (DocumentKind.INVOICE, DocumentKind.ESTIMATE):
        return _require(data.invoice, "invoice", kind).number
    if kind is DocumentKind.CREDIT_NOTE:
        return _require(data.credit_note, "credit_note", kind).number
    if kind in (DocumentKind.RECEIPT, DocumentKind.REFUND):
        payment = _require(data.payment, "payment", kind)
        return payment.reference or payment.date.isoformat()
    return _require(data.statement, "statement", kind).period_end.isoformat()


def _safe_filename_part(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    safe = re.sub(r"[^A-Za-z0-9._]+", "-", ascii_text)
    return re.sub(r"\.{2,}", ".", safe).strip("-._")[:_MAX_FILENAME_PART].strip("-._")


# --- PDF --------------------------------------------------------------------------------------


class FetchRefused(ValueError):
    """A document referred to a resource outside `data:` URLs and the PDF assets."""


class AssetsOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """Serves `data:` URLs and files inside `templates/pdf/assets/`; refuses everything else."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=False)

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            return _asset_response(url)
        raise _refuse(url)


def _asset_response(url: str) -> URLFetcherResponse:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise _refuse(url)
    path = Path(url2pathname(parts.path)).resolve()
    if not path.is_relative_to(ASSETS_DIR.resolve()) or not path.is_file():
        raise _refuse(url)
    content_type = _ASSET_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": content_type})


def _refuse(url: str) -> FetchRefused:
    shown = url if len(url) <= 120 else f"{url[:120]}..."
    logger.warning("PDF resource refused: %r", shown)
    return FetchRefused(f"resource not allowed in PDFs: {shown}")


def html_to_pdf(html: str) -> bytes:
    """Lay out `html` as PDF; only `data:` URLs and PDF assets are fetched, nothing is embedded."""
    try:
        document = HTML(
            string=html, base_url=ASSETS_DIR.as_uri() + "/", url_fetcher=AssetsOnlyFetcher()
        )
        _drop_attachment_links(document.etree_element)
        rendered = document.render()
        rendered.metadata.attachments.clear()
        pdf: bytes = rendered.write_pdf(attachments=None)
    except Exception as exc:
        raise RenderError(f"PDF layout failed: {type(exc).__name__}: {exc}") from exc
    return pdf


def _drop_attachment_links(root: Any) -> None:
    """`<link rel=attachment>` and `<a rel=attachment>` would embed the target file: unlink them."""
    for element in root.iter():
        if "attachment" in str(element.get("rel", "")).lower():
            del element.attrib["rel"]


def render_document(kind: DocumentKind, data: TemplateData, locale: str) -> Attachment:
    """The document as a PDF attachment, made in this process (blocking)."""
    html = build_document_html(kind, data, locale)
    return Attachment(document_filename(kind, data, locale), PDF_CONTENT_TYPE, html_to_pdf(html))


def warm_up() -> None:
    """Load fonts and styles once, so a worker's first real layout is quick."""
    html_to_pdf('<link rel="stylesheet" href="document.css"><p>0</p>')
