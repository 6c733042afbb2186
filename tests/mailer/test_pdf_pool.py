"""The PDF worker pool: worker failures, timeouts, the memory cap, shutdown, HarfBuzz."""

from __future__ import annotations

import ctypes.util
import resource
import time

import pytest

from mailer.catalog import DocumentKind
from mailer.errors import RenderError
from mailer.pdf import html_to_pdf
from mailer.pdf_pool import PdfRenderer, harfbuzz_subset_available, slow_rendering_warning
from tests.mailer.test_pdf import event_data, pdf_pages, with_changes


def test_harfbuzz_subset_is_detected() -> None:
    assert harfbuzz_subset_available() is True  # libharfbuzz-subset0 is installed here
    assert slow_rendering_warning() is None


def test_a_missing_harfbuzz_subset_is_reported_with_its_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = ctypes.util.find_library
    monkeypatch.setattr(
        ctypes.util, "find_library", lambda name: None if name == "harfbuzz-subset" else real(name)
    )
    assert harfbuzz_subset_available() is False
    warning = slow_rendering_warning()
    assert warning is not None and "apt-get install libharfbuzz-subset0" in warning


@pytest.mark.asyncio(loop_scope="module")
async def test_errors_in_the_worker_come_back_as_render_errors() -> None:
    async with PdfRenderer(max_workers=1, layout_function=fail_in_test_worker) as pdf_renderer:
        with pytest.raises(RenderError, match="LookupError: a bug"):
            await pdf_renderer.render(DocumentKind.INVOICE, event_data("invoice.new"), "en")


def fail_in_test_worker(html: str) -> bytes:
    """Runs in a pool worker: fails as an unexpected bug would."""
    raise LookupError("a bug in the layout")


def render_in_test_worker(html: str) -> bytes:
    """Runs in a pool worker: prints the worker's memory cap on the PDF; a hog allocates 2 GiB."""
    if "memory hog" in html:
        bytearray(2 << 30)
    soft_limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    return html_to_pdf(html.replace("</body>", f"<p>limit-{soft_limit}</p></body>"))


@pytest.mark.asyncio(loop_scope="module")
async def test_timeout_memory_cap_and_a_fresh_pool_after_a_hang() -> None:
    data = event_data("invoice.new")
    hog = with_changes(data, customer={"name": "memory hog"})
    cap = 768 << 20
    pdf_renderer = PdfRenderer(
        max_workers=1, timeout=0.001, address_space_limit=cap, layout_function=render_in_test_worker
    )

    with pytest.raises(RenderError, match="longer than"):
        await pdf_renderer.render(DocumentKind.INVOICE, data, "en")
    recovered = await pdf_renderer.render(DocumentKind.INVOICE, data, "en", timeout=60)
    with pytest.raises(RenderError, match="MemoryError"):
        await pdf_renderer.render(DocumentKind.INVOICE, hog, "en", timeout=60)
    await pdf_renderer.aclose()

    assert recovered.filename == "Invoice-INV-10001.pdf"
    assert "INV-10001" in pdf_pages(recovered.data)[0]
    assert f"limit-{cap}" in "".join(pdf_pages(recovered.data))
    with pytest.raises(RenderError, match="closed"):
        await pdf_renderer.render(DocumentKind.INVOICE, data, "en")


@pytest.mark.asyncio(loop_scope="module")
async def test_aclose_without_renders_is_quick() -> None:
    started = time.perf_counter()
    await PdfRenderer().aclose()
    assert time.perf_counter() - started < 0.5
