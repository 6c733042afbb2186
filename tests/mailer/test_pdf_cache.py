"""The PDF cache: LRU by bytes, single flight, failures not kept, keys; the renderer's use of it."""

from __future__ import annotations

import asyncio
import functools
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mailer import pdf_pool
from mailer.catalog import CATALOG, DocumentKind
from mailer.errors import RenderError
from mailer.events import SendEvent, TemplateData
from mailer.message import Attachment
from mailer.pdf import render_document
from mailer.pdf_cache import CacheStats, PdfCache, PdfRender, directory_fingerprint, document_key
from mailer.pdf_pool import PdfRenderer
from tests.conftest import load_example


class Renders:
    """Render functions for the cache that record which keys they rendered."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    def of(self, key: str, pdf: bytes) -> PdfRender:
        async def render() -> bytes:
            self.calls.append(key)
            await self.gate.wait()
            return pdf

        return render

    def failing(self, key: str) -> PdfRender:
        async def render() -> bytes:
            self.calls.append(key)
            await self.gate.wait()
            raise RenderError("PDF layout failed")

        return render


async def fetch(cache: PdfCache, renders: Renders, key: str, size: int = 4) -> bytes:
    return await cache.get_or_render(key, renders.of(key, key.encode() * size))


# --- The cache ----------------------------------------------------------------------------------


async def test_a_second_request_is_served_from_the_cache() -> None:
    cache, renders = PdfCache(100), Renders()

    first = await cache.get_or_render("a", renders.of("a", b"pdf-a"))
    second = await cache.get_or_render("a", renders.of("a", b"something else"))

    assert first == second == b"pdf-a"
    assert renders.calls == ["a"]
    assert cache.stats == CacheStats(
        hits=1,
        shared_hits=0,
        misses=1,
        coalesced=0,
        evictions=0,
        entries=1,
        size_bytes=5,
        max_bytes=100,
    )


async def test_the_least_recently_used_pdf_goes_when_the_bytes_run_out() -> None:
    cache, renders = PdfCache(10), Renders()

    await fetch(cache, renders, "a")
    await fetch(cache, renders, "b")
    await fetch(cache, renders, "a")  # a is now more recent than b
    await fetch(cache, renders, "c")  # 12 bytes: b goes
    await fetch(cache, renders, "a")
    await fetch(cache, renders, "c")
    await fetch(cache, renders, "b")  # rendered again; a is now the least recent and goes

    assert renders.calls == ["a", "b", "c", "b"]
    assert cache.stats == CacheStats(
        hits=3,
        shared_hits=0,
        misses=4,
        coalesced=0,
        evictions=2,
        entries=2,
        size_bytes=8,
        max_bytes=10,
    )


async def test_a_pdf_larger_than_the_bound_is_returned_but_not_kept() -> None:
    cache, renders = PdfCache(4), Renders()
    await fetch(cache, renders, "ab", size=1)

    first = await fetch(cache, renders, "large", size=1)
    second = await fetch(cache, renders, "large", size=1)
    await fetch(cache, renders, "ab", size=1)

    assert first == second == b"large"
    assert renders.calls == ["ab", "large", "large"]  # and "ab" survived
    assert (cache.stats.entries, cache.stats.size_bytes, cache.stats.evictions) == (1, 2, 0)


async def test_a_cache_of_zero_bytes_keeps_nothing() -> None:
    cache, renders = PdfCache(0), Renders()

    await fetch(cache, renders, "a")
    await fetch(cache, renders, "a")

    assert renders.calls == ["a", "a"]
    assert cache.stats.entries == 0


async def test_concurrent_misses_for_one_key_share_one_render() -> None:
    cache, renders = PdfCache(100), Renders()
    renders.gate.clear()

    callers = [asyncio.create_task(fetch(cache, renders, "a")) for _ in range(5)]
    await asyncio.sleep(0)  # every caller is now waiting
    assert (cache.stats.misses, cache.stats.coalesced) == (1, 4)
    renders.gate.set()
    results = await asyncio.gather(*callers)

    assert results == [b"aaaa"] * 5
    assert renders.calls == ["a"]
    assert await fetch(cache, renders, "a") == b"aaaa"
    assert cache.stats.hits == 1


async def test_a_failed_render_reaches_every_waiter_and_is_not_kept() -> None:
    cache, renders = PdfCache(100), Renders()
    renders.gate.clear()

    callers = [
        asyncio.create_task(cache.get_or_render("a", renders.failing("a"))) for _ in range(3)
    ]
    await asyncio.sleep(0)
    renders.gate.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    retried = await fetch(cache, renders, "a")

    assert all(isinstance(outcome, RenderError) for outcome in outcomes)
    assert retried == b"aaaa"
    assert renders.calls == ["a", "a"]
    assert (cache.stats.misses, cache.stats.coalesced, cache.stats.entries) == (2, 2, 1)


async def test_a_caller_that_gives_up_does_not_cancel_the_render_others_wait_for() -> None:
    cache, renders = PdfCache(100), Renders()
    renders.gate.clear()

    impatient = asyncio.create_task(fetch(cache, renders, "a"))
    patient = asyncio.create_task(fetch(cache, renders, "a"))
    await asyncio.sleep(0)
    impatient.cancel()
    renders.gate.set()

    assert await patient == b"aaaa"
    assert impatient.cancelled()
    assert await fetch(cache, renders, "a") == b"aaaa"
    assert renders.calls == ["a"]


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        PdfCache(-1)


# --- Keys ---------------------------------------------------------------------------------------


def test_the_key_covers_the_html_and_the_file_name() -> None:
    key = document_key("<p>540.00</p>", "Invoice-INV-1.pdf")

    assert key == document_key("<p>540.00</p>", "Invoice-INV-1.pdf")
    assert key != document_key("<p>540.01</p>", "Invoice-INV-1.pdf")
    assert key != document_key("<p>540.00</p>", "Facture-INV-1.pdf")
    assert document_key("<p>a", "b.pdf") != document_key("<p>", "ab.pdf")


def test_the_templates_fingerprint_changes_with_any_file(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    stylesheet = tmp_path / "assets" / "document.css"
    stylesheet.write_text("p { color: black }")
    (tmp_path / "invoice.html.j2").write_text("<p>{{ total }}</p>")
    original = directory_fingerprint(tmp_path)

    assert directory_fingerprint(tmp_path) == original
    stylesheet.write_text("p { color: red }")
    restyled = directory_fingerprint(tmp_path)
    stylesheet.rename(tmp_path / "assets" / "print.css")
    renamed = directory_fingerprint(tmp_path)

    assert len({original, restyled, renamed}) == 3


# --- The renderer with a cache (a stub layout that counts) ---------------------------------------


def count_and_lay_out(log_dir: Path, html: str) -> bytes:
    """Runs in a pool worker: leaves one file per layout; each "PDF" is unique to its layout."""
    layout_id = uuid.uuid4().hex
    (log_dir / layout_id).write_text(html)
    return f"%PDF-stub {layout_id}".encode()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "layouts"
    path.mkdir()
    return path


def counting_renderer(log_dir: Path, cache: PdfCache | None) -> PdfRenderer:
    layout = functools.partial(count_and_lay_out, log_dir)
    return PdfRenderer(max_workers=1, layout_function=layout, cache=cache)


def layouts(log_dir: Path) -> int:
    return len(list(log_dir.iterdir()))


def event(name: str, **data_changes: Any) -> SendEvent:
    document = load_example(name)
    document["data"] = document["data"] | data_changes
    return SendEvent.model_validate(document)


async def attach(renderer: PdfRenderer, send: SendEvent) -> Attachment:
    """The PDF as the composer asks for it."""
    kind = CATALOG[send.template].document
    assert kind is not None
    return await renderer.render(kind, send.data, send.locale)


async def test_the_same_document_twice_is_laid_out_once(log_dir: Path) -> None:
    async with counting_renderer(log_dir, PdfCache(1 << 20)) as renderer:
        first = await attach(renderer, event("invoice.new"))
        second = await attach(renderer, event("invoice.new"))
        stats = renderer.cache_stats

    assert layouts(log_dir) == 1
    assert first == second
    assert first.filename == "Invoice-INV-10001.pdf"
    assert stats is not None and (stats.hits, stats.misses) == (1, 1)


async def test_a_reminder_reuses_the_pdf_of_the_invoice_email(log_dir: Path) -> None:
    new = event("invoice.new")
    links = {"view": "https://portal.acme.example/i/xyz", "pay": "https://pay.example/r/2"}
    same_invoice = new.data.model_dump(mode="json") | {"links": links, "days_overdue": 14}
    reminder = event("invoice.reminder", **same_invoice)
    assert reminder.template != new.template and reminder.data != new.data

    async with counting_renderer(log_dir, PdfCache(1 << 20)) as renderer:
        sent = await attach(renderer, new)
        reminded = await attach(renderer, reminder)

    assert layouts(log_dir) == 1
    assert reminded == sent


async def test_a_changed_amount_is_laid_out_again(log_dir: Path) -> None:
    new = event("invoice.new")
    assert new.data.invoice is not None
    amounts = {"tax": "91.00", "total": "541.00", "balance": "541.00"}
    invoice = new.data.invoice.model_dump(mode="json") | amounts
    changed = event("invoice.new", invoice=invoice)

    async with counting_renderer(log_dir, PdfCache(1 << 20)) as renderer:
        before = await attach(renderer, new)
        after = await attach(renderer, changed)

    assert layouts(log_dir) == 2
    assert after.data != before.data
    assert changed.data.invoice is not None and changed.data.invoice.total == Decimal("541.00")


@pytest.mark.parametrize("cache", [None, PdfCache(0)], ids=["none", "zero-bytes"])
async def test_without_a_cache_every_request_is_laid_out(
    log_dir: Path, cache: PdfCache | None
) -> None:
    async with counting_renderer(log_dir, cache) as renderer:
        first = await attach(renderer, event("invoice.new"))
        second = await attach(renderer, event("invoice.new"))

    assert layouts(log_dir) == 2
    assert first.data != second.data


async def test_concurrent_requests_for_one_document_share_one_layout(log_dir: Path) -> None:
    async with counting_renderer(log_dir, PdfCache(1 << 20)) as renderer:
        attachments = await asyncio.gather(
            *(attach(renderer, event("invoice.new")) for _ in range(4))
        )

    assert layouts(log_dir) == 1
    assert len(set(attachments)) == 1


async def test_the_same_inputs_again_skip_building_the_html(
    log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    build = pdf_pool.build_document_html

    def counting_build(kind: DocumentKind, data: TemplateData, locale: str) -> str:
        built.append(kind.value)
        return build(kind, data, locale)

    monkeypatch.setattr(pdf_pool, "build_document_html", counting_build)
    async with counting_renderer(log_dir, PdfCache(1 << 20)) as renderer:
        first = await attach(renderer, event("invoice.new"))
        second = await attach(renderer, event("invoice.new"))
    assert (built, layouts(log_dir)) == (["invoice"], 1)
    assert first == second


async def test_inputs_whose_pdf_was_evicted_are_built_and_laid_out_again(log_dir: Path) -> None:
    async with counting_renderer(log_dir, PdfCache(60)) as renderer:  # room for one stub PDF
        first = await attach(renderer, event("invoice.new"))
        await attach(renderer, event("credit_note.new"))
        again = await attach(renderer, event("invoice.new"))
    assert layouts(log_dir) == 3
    assert again.filename == first.filename and again.data != first.data


# --- The renderer with a cache and WeasyPrint ----------------------------------------------------


async def test_a_cached_pdf_is_the_pdf_a_fresh_render_makes() -> None:
    data = event("invoice.new").data
    async with PdfRenderer(max_workers=1, cache=PdfCache(1 << 20)) as renderer:
        rendered = await renderer.render(DocumentKind.INVOICE, data, "fr")
        cached = await renderer.render(DocumentKind.INVOICE, data, "fr")
        stats = renderer.cache_stats

    fresh = render_document(DocumentKind.INVOICE, data, "fr")

    assert stats is not None and (stats.hits, stats.misses) == (1, 1)
    assert cached == rendered == fresh
    assert cached.data.startswith(b"%PDF-")
