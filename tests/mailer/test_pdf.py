"""Document PDFs: content per kind and locale, page layout, the URL fetcher's fence, the pool."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest
import pytest_asyncio

from mailer.catalog import SUPPORTED_LOCALES, DocumentKind
from mailer.errors import RenderError
from mailer.events import SendEvent, TemplateData
from mailer.formatting import format_money
from mailer.message import Attachment
from mailer.pdf import (
    ASSETS_DIR,
    STRINGS_DIR,
    AssetsOnlyFetcher,
    FetchRefused,
    build_document_html,
    document_filename,
    html_to_pdf,
    render_document,
)
from mailer.pdf_pool import PdfRenderer

FIXTURES = Path(__file__).parent / "pdf_fixtures"
EVENT_FOR_KIND = {
    DocumentKind.INVOICE: "invoice.new",
    DocumentKind.ESTIMATE: "estimate.new",
    DocumentKind.CREDIT_NOTE: "credit_note.new",
    DocumentKind.RECEIPT: "payment.receipt",
    DocumentKind.REFUND: "payment.refund",
    DocumentKind.STATEMENT: "statement",
}
PAGE_OF = {
    "en": "Page {} of {}",
    "fr": "Page {} sur {}",
    "de": "Seite {} von {}",
    "da": "Side {} af {}",
    "ro": "Pagina {} din {}",
}
A4_POINTS = (595.28, 841.89)
PASSWD_MARKER = "root:x:0:0"
HOSTILE = [
    "<link rel=attachment href=file:///etc/passwd>",
    '<a rel="attachment" href="file:///etc/passwd">x</a>',
    "<style>@import url(file:///etc/passwd);</style>",
    '<img src="file:///etc/passwd"><img src="http://169.254.169.254/latest/meta-data/">',
]


def event_data(name: str) -> TemplateData:
    return SendEvent.model_validate_json((FIXTURES / f"{name}.json").read_text()).data


def with_changes(data: TemplateData, **changes: Any) -> TemplateData:
    return TemplateData.model_validate({**data.model_dump(mode="json"), **changes})


def pdf_pages(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [normalize(page.extract_text()) for page in reader.pages]


def normalize(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def squeeze(text: str) -> str:
    return "".join(text.split())


def money(amount: str, currency: str, locale: str) -> str:
    return normalize(format_money(amount, currency, locale))


def assert_nothing_leaked(pdf: bytes) -> None:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert dict(reader.attachments) == {}
    assert b"/EmbeddedFile" not in pdf
    assert b"/FileAttachment" not in pdf
    assert PASSWD_MARKER.encode() not in pdf
    assert all(PASSWD_MARKER not in page.extract_text() for page in reader.pages)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    attempts: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert attempts == []


# --- Every kind in every locale, rendered once through the shared pool --------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def renderer() -> AsyncIterator[PdfRenderer]:
    async with PdfRenderer(max_workers=2) as pdf_renderer:
        yield pdf_renderer


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rendered(renderer: PdfRenderer) -> dict[tuple[DocumentKind, str], Attachment]:
    cases = [(kind, locale) for kind in DocumentKind for locale in SUPPORTED_LOCALES]
    attachments = await asyncio.gather(
        *(renderer.render(kind, event_data(EVENT_FOR_KIND[kind]), locale) for kind, locale in cases)
    )
    return dict(zip(cases, attachments, strict=True))


def expected_texts(kind: DocumentKind, data: TemplateData, locale: str) -> list[str]:
    """What the document must say: its reference, every line and its localized totals."""
    if data.invoice is not None and kind in (DocumentKind.INVOICE, DocumentKind.ESTIMATE):
        invoice = data.invoice
        lines = [line.description for line in invoice.lines]
        amounts = [invoice.subtotal, invoice.tax, invoice.total]
        return [invoice.number, *lines, *(money(str(a), invoice.currency, locale) for a in amounts)]
    if data.credit_note is not None and kind is DocumentKind.CREDIT_NOTE:
        note = data.credit_note
        lines = [line.description for line in note.lines]
        return [note.number, *lines, money(str(note.total), note.currency, locale)]
    if data.payment is not None and kind in (DocumentKind.RECEIPT, DocumentKind.REFUND):
        payment = data.payment
        numbers = [entry.number for entry in payment.invoices]
        return [
            payment.reference or "",
            *numbers,
            money(str(payment.amount), payment.currency, locale),
        ]
    assert data.statement is not None
    statement = data.statement
    balances = [statement.opening_balance, statement.closing_balance]
    descriptions = [entry.description for entry in statement.entries]
    return [*descriptions, *(money(str(b), statement.currency, locale) for b in balances)]


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("kind", list(DocumentKind))
def test_document_says_what_it_must(
    rendered: dict[tuple[DocumentKind, str], Attachment], kind: DocumentKind, locale: str
) -> None:
    attachment = rendered[kind, locale]
    pages = pdf_pages(attachment.data)
    text = "\n".join(pages)

    assert attachment.content_type == "application/pdf"
    assert attachment.filename.endswith(".pdf")
    for expected in expected_texts(kind, event_data(EVENT_FOR_KIND[kind]), locale):
        assert expected in text
    for number, page in enumerate(pages, start=1):
        assert PAGE_OF[locale].format(number, len(pages)) in page


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_pages_are_a4(
    rendered: dict[tuple[DocumentKind, str], Attachment], kind: DocumentKind
) -> None:
    reader = pypdf.PdfReader(io.BytesIO(rendered[kind, "en"].data))
    for page in reader.pages:
        size = (float(page.mediabox.width), float(page.mediabox.height))
        assert size == pytest.approx(A4_POINTS, abs=1)


def test_french_invoice_uses_french_words_and_numbers(
    rendered: dict[tuple[DocumentKind, str], Attachment],
) -> None:
    text = "\n".join(pdf_pages(rendered[DocumentKind.INVOICE, "fr"].data))

    for expected in (
        "Facture",
        "Total HT",
        "TVA",
        "Total TTC",
        "540,00 €",
        "450,00 €",
        "1 déc. 2026",
    ):
        assert expected in text
    assert "Page 1 sur 1" in text


def test_english_invoice_totals(rendered: dict[tuple[DocumentKind, str], Attachment]) -> None:
    text = "\n".join(pdf_pages(rendered[DocumentKind.INVOICE, "en"].data))

    for expected in ("Subtotal €450.00", "Tax €90.00", "Total €540.00", "Balance due €540.00"):
        assert expected in text
    assert "Discount" not in text


def test_estimate_has_its_own_title_and_no_balance_due(
    rendered: dict[tuple[DocumentKind, str], Attachment],
) -> None:
    text = "\n".join(pdf_pages(rendered[DocumentKind.ESTIMATE, "en"].data))

    assert "Estimate" in text
    assert "Balance due" not in text


def test_statement_shows_opening_running_and_closing_balances(
    rendered: dict[tuple[DocumentKind, str], Attachment],
) -> None:
    text = "\n".join(pdf_pages(rendered[DocumentKind.STATEMENT, "en"].data))

    assert "Opening balance €0.00" in text
    assert "Invoice INV-10010 €540.00 €540.00" in text
    assert "Closing balance €540.00" in text
    assert "Oct 1, 2026 \u2013 Oct 31, 2026" in text


def test_statement_computes_running_balance_when_entries_have_none() -> None:
    statement = {
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "currency": "EUR",
        "opening_balance": "100.00",
        "closing_balance": "340.00",
        "entries": [
            {"date": "2026-10-05", "description": "Invoice INV-1", "amount": "540.00"},
            {"date": "2026-10-20", "description": "Payment, thank you", "amount": "-300.00"},
        ],
    }
    data = with_changes(event_data("statement"), statement=statement)

    text = "\n".join(pdf_pages(render_document(DocumentKind.STATEMENT, data, "en").data))

    assert "Invoice INV-1 €540.00 €640.00" in text
    assert "Payment, thank you -€300.00 €340.00" in text
    assert "Closing balance €340.00" in text


# --- Receipts: one page, then one page per invoice paid -------------------------------------------


def test_receipt_without_full_invoice_shows_number_and_amount_applied(
    rendered: dict[tuple[DocumentKind, str], Attachment],
) -> None:
    pages = pdf_pages(rendered[DocumentKind.RECEIPT, "en"].data)

    assert len(pages) == 1 + 1
    assert "Payment receipt" in pages[0]
    assert "INV-10007" in pages[1]
    assert "AMOUNT APPLIED" in pages[1]  # labels are set in small capitals
    assert "€540.00" in pages[1]
    assert "Bookkeeping, month 1" not in pages[1]  # data.invoice is another invoice


def test_receipt_renders_full_invoices_from_data_invoice_and_extra_invoices() -> None:
    data = event_data("payment.receipt")
    assert data.invoice is not None
    other = data.invoice.model_dump(mode="json") | {
        "number": "INV-20002",
        "lines": [{"description": "Payroll, October", "amount": "450.00"}],
    }
    payment = data.payment.model_dump(mode="json") if data.payment else {}
    payment["invoices"] = [
        {"number": "INV-10001", "amount": "300.00"},
        {"number": "INV-20002", "amount": "200.00"},
        {"number": "INV-30003", "amount": "40.00"},
    ]
    data = with_changes(data, payment=payment, invoices=[other])

    pages = pdf_pages(render_document(DocumentKind.RECEIPT, data, "en").data)

    assert len(pages) == 1 + 3
    assert "INV-10001" in pages[1] and "Bookkeeping, month 3" in pages[1]
    assert "INV-20002" in pages[2] and "Payroll, October" in pages[2]
    assert "INV-30003" in pages[3] and "€40.00" in pages[3]
    assert all(PAGE_OF["en"].format(n, 4) in page for n, page in enumerate(pages, start=1))


def test_refund_is_titled_as_a_refund(rendered: dict[tuple[DocumentKind, str], Attachment]) -> None:
    pages = pdf_pages(rendered[DocumentKind.REFUND, "de"].data)

    assert "Erstattungsbeleg" in pages[0]
    assert len(pages) == 2


def test_missing_document_data_is_a_render_error() -> None:
    with pytest.raises(RenderError, match=r"needs data\.invoice"):
        build_document_html(DocumentKind.INVOICE, event_data("statement"), "en")


# --- File names and strings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "locale", "expected"),
    [
        (DocumentKind.INVOICE, "en", "Invoice-INV-10001.pdf"),
        (DocumentKind.INVOICE, "fr-CA", "Facture-INV-10001.pdf"),
        (DocumentKind.INVOICE, "xx", "Invoice-INV-10001.pdf"),
        (DocumentKind.ESTIMATE, "de", "Angebot-INV-10014.pdf"),
        (DocumentKind.CREDIT_NOTE, "ro", "Nota-de-credit-CN-6.pdf"),
        (DocumentKind.RECEIPT, "fr", "Recu-PAY-7.pdf"),
        (DocumentKind.REFUND, "da", "Refusion-PAY-8.pdf"),
        (DocumentKind.STATEMENT, "en", "Statement-2026-10-31.pdf"),
    ],
)
def test_document_filename(kind: DocumentKind, locale: str, expected: str) -> None:
    assert document_filename(kind, event_data(EVENT_FOR_KIND[kind]), locale) == expected


def test_document_filename_keeps_only_safe_characters() -> None:
    data = event_data("invoice.new")
    assert data.invoice is not None
    invoice = data.invoice.model_dump(mode="json") | {"number": '../../etc/pass"wd;\tFà/2026'}

    name = document_filename(DocumentKind.INVOICE, with_changes(data, invoice=invoice), "fr")

    assert name == "Facture-etc-pass-wd-Fa-2026.pdf"


def test_every_locale_has_every_string() -> None:
    english = json.loads((STRINGS_DIR / "en.json").read_text())
    for locale in SUPPORTED_LOCALES:
        strings = json.loads((STRINGS_DIR / f"{locale}.json").read_text())
        assert strings.keys() == english.keys(), locale
        assert "{page}" in strings["page_of"] and "{pages}" in strings["page_of"]


# --- The fence: only data: URLs and the PDF assets are ever fetched ------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        f"{ASSETS_DIR.as_uri()}/../../../../../etc/passwd",
        f"{ASSETS_DIR.as_uri()}/%2e%2e/%2e%2e/strings/en.json",
        "file://evil.example/share/x.css",
        "http://169.254.169.254/latest/meta-data/",
        "https://example.com/style.css",
        "ftp://example.com/x",
        "relative/path.css",
    ],
)
def test_fetcher_refuses(url: str, no_network: list[Any]) -> None:
    with pytest.raises(FetchRefused):
        AssetsOnlyFetcher().fetch(url)


def test_fetcher_serves_assets_and_data_urls() -> None:
    fetcher = AssetsOnlyFetcher()

    stylesheet = fetcher.fetch(f"{ASSETS_DIR.as_uri()}/document.css")
    inline = fetcher.fetch("data:text/plain;base64,aGVsbG8=")

    assert stylesheet.content_type == "text/css"
    assert b"@page" in stylesheet.read()
    assert inline.read() == b"hello"


@pytest.mark.parametrize("payload", [*HOSTILE, "http://169.254.169.254/"])
def test_tenant_text_cannot_fetch_or_embed(payload: str, no_network: list[Any]) -> None:
    data = event_data("invoice.new")
    assert data.invoice is not None
    invoice = data.invoice.model_dump(mode="json") | {"notes": payload}
    data = with_changes(data, invoice=invoice, customer={"name": payload})

    html = build_document_html(DocumentKind.INVOICE, data, "en")
    pdf = html_to_pdf(html)

    assert "<" not in payload or payload not in html  # markup is escaped
    assert_nothing_leaked(pdf)
    assert squeeze(payload) in squeeze("".join(pdf_pages(pdf)))  # shown as plain text


@pytest.mark.parametrize(
    "payload",
    [
        *HOSTILE,
        '<link rel="stylesheet" href="file:///etc/passwd">',
        '<link rel="Attachment alternate" href="data:text/plain,root:x:0:0">',
        '<a rel="attachment" href="data:text/plain,root:x:0:0">inline</a>',
        '<img src="../../../../../../etc/passwd">',
        '<base href="file:///etc/"><img src="passwd">',
        "<style>@import url(data:text/css,@import%20url%28file:%2F%2F%2Fetc%2Fpasswd%29);</style>",
        "<style>@font-face { font-family: x; src: url(file:///etc/passwd); }</style>",
        '<img src="data:image/svg+xml,<svg xmlns=%22http://www.w3.org/2000/svg%22>'
        '<image href=%22file:///etc/passwd%22/></svg>">',
    ],
)
def test_raw_html_cannot_fetch_or_embed(payload: str, no_network: list[Any]) -> None:
    pdf = html_to_pdf(f"<html><head>{payload}</head><body><p>Hello</p>{payload}</body></html>")

    assert_nothing_leaked(pdf)
    assert "Hello" in pdf_pages(pdf)[0]


# --- The pool -----------------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
async def test_event_loop_keeps_ticking_while_pdfs_render(renderer: PdfRenderer) -> None:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    data = event_data("invoice.new")
    attachments = await asyncio.gather(
        *(renderer.render(DocumentKind.INVOICE, data, locale) for locale in SUPPORTED_LOCALES)
    )
    done.set()
    await ticking

    assert [a.filename.split("-")[0] for a in attachments] == [
        "Invoice", "Facture", "Rechnung", "Faktura", "Factura"
    ]  # fmt: skip
    assert len(gaps) >= 10
    assert max(gaps) < 0.25


@pytest.mark.asyncio(loop_scope="module")
async def test_missing_document_data_comes_back_as_a_render_error(renderer: PdfRenderer) -> None:
    with pytest.raises(RenderError, match=r"needs data\.statement"):
        await renderer.render(DocumentKind.STATEMENT, event_data("invoice.new"), "en")
