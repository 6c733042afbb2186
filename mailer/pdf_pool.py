"""The async front door to PDF rendering: a recycled, memory-capped process pool with timeouts."""

from __future__ import annotations

import asyncio
import ctypes.util
import functools
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

from mailer.catalog import DocumentKind
from mailer.errors import RenderError
from mailer.events import TemplateData
from mailer.message import Attachment
from mailer.pdf import (
    PDF_CONTENT_TYPE,
    build_document_html,
    document_filename,
    html_to_pdf,
    warm_up,
)
from mailer.pdf_cache import CacheStats, PdfCache, document_key, inputs_key

__all__ = [
    "DEFAULT_ADDRESS_SPACE_LIMIT",
    "DEFAULT_MAX_TASKS_PER_CHILD",
    "DEFAULT_TIMEOUT",
    "PdfRenderer",
    "harfbuzz_subset_available",
    "slow_rendering_warning",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
DEFAULT_ADDRESS_SPACE_LIMIT = 1 << 30
DEFAULT_MAX_TASKS_PER_CHILD = 200
_QUEUED_PER_WORKER = 2
_REMEMBERED_DOCUMENTS = 8192

# HTML in, PDF bytes out, in a worker process: so it must pickle (a module-level function).
LayoutFunction = Callable[[str], bytes]


def harfbuzz_subset_available() -> bool:
    """Whether WeasyPrint can subset fonts with HarfBuzz (fast) rather than fontTools (slow)."""
    return ctypes.util.find_library("harfbuzz-subset") is not None


def slow_rendering_warning() -> str | None:
    """What to tell the operator at start-up when PDFs will render slower than they could."""
    if harfbuzz_subset_available():
        return None
    return (
        "libharfbuzz-subset0 is missing: PDF rendering is about 2.3x slower "
        "(apt-get install libharfbuzz-subset0)"
    )


def _init_worker(address_space_limit: int | None) -> None:
    """Runs once in each worker process before its first render."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    _exit_with_parent()
    if address_space_limit is not None:
        _limit_address_space(address_space_limit)
    warm_up()


def _exit_with_parent() -> None:
    """Without this, the workers of a killed service would wait for work forever."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _limit_address_space(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers fork from a clean server that has WeasyPrint loaded: recycling them is cheap."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mailer.pdf"])  # no effect once the server runs
    return context


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: `shutdown` alone would wait for a hung render forever."""
    for process in list((pool._processes or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _document(kind: DocumentKind, data: TemplateData, locale: str) -> tuple[str, str]:
    """The document's HTML and file name; any failure is a RenderError, as from a worker."""
    try:
        return build_document_html(kind, data, locale), document_filename(kind, data, locale)
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError(f"{kind} PDF failed: {type(exc).__name__}: {exc}") from exc


class PdfRenderer:
    """Renders document PDFs in worker processes so the event loop never blocks.

    The document's HTML is built here (Jinja2, a few milliseconds for a long invoice); workers
    only lay it out as PDF. With a cache, a document whose HTML was laid out before is not laid
    out again.

    Each worker has one render running and one waiting at the pool, so it never idles while
    a result travels back and the next render is handed over; the others wait their turn here,
    so the timeout measures rendering (behind at most one other, and the start of a fresh
    worker), not queueing. A render that times out replaces the whole pool (the hung worker
    is killed); renders that die with it are retried once on the new pool.
    """

    def __init__(
        self,
        *,
        max_workers: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        address_space_limit: int | None = DEFAULT_ADDRESS_SPACE_LIMIT,
        max_tasks_per_child: int = DEFAULT_MAX_TASKS_PER_CHILD,
        layout_function: LayoutFunction = html_to_pdf,
        cache: PdfCache | None = None,
    ) -> None:
        self._max_workers = max_workers or os.cpu_count() or 1
        self._timeout = timeout
        self._address_space_limit = address_space_limit
        self._max_tasks_per_child = max_tasks_per_child
        self._layout_function = layout_function
        self._cache = cache
        # Inputs digest -> (cache key, file name) of documents laid out lately.
        self._documents: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._slots = asyncio.Semaphore(self._max_workers * _QUEUED_PER_WORKER)
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    async def render(
        self,
        kind: DocumentKind,
        data: TemplateData,
        locale: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - unlike a caller's, ours kills the worker
    ) -> Attachment:
        """The document as a PDF attachment; raises RenderError if it cannot be made in time.

        `timeout` overrides the renderer's own for this call; a caller that finds the same
        document already being laid out waits for that layout, under its starter's limit.
        """
        limit = self._timeout if timeout is None else timeout
        if self._cache is None:
            html, filename = _document(kind, data, locale)
            return Attachment(filename, PDF_CONTENT_TYPE, await self._layout(kind, html, limit))
        # Building a long invoice's HTML takes milliseconds; the same inputs give the same HTML.
        inputs = inputs_key(kind.value, locale, data.model_dump_json())
        known = self._documents.get(inputs)
        if known is not None and (pdf := self._cache.get(known[0])) is not None:
            self._documents.move_to_end(inputs)
            return Attachment(known[1], PDF_CONTENT_TYPE, pdf)
        html, filename = _document(kind, data, locale)
        key = document_key(html, filename)
        self._remember(inputs, key, filename)
        layout = functools.partial(self._layout, kind, html, limit)
        return Attachment(filename, PDF_CONTENT_TYPE, await self._cache.get_or_render(key, layout))

    def _remember(self, inputs: str, key: str, filename: str) -> None:
        self._documents[inputs] = (key, filename)
        self._documents.move_to_end(inputs)
        while len(self._documents) > _REMEMBERED_DOCUMENTS:
            self._documents.popitem(last=False)

    @property
    def cache_stats(self) -> CacheStats | None:
        """The cache's counters, or None without a cache."""
        return None if self._cache is None else self._cache.stats

    async def _layout(self, kind: DocumentKind, html: str, limit: float) -> bytes:
        async with self._slots:
            try:
                return await self._attempt(kind, html, limit)
            except BrokenProcessPool:
                logger.warning("PDF worker pool broke during a %s render; retrying once", kind)
            try:
                return await self._attempt(kind, html, limit)
            except BrokenProcessPool as exc:
                raise RenderError(f"PDF worker died while rendering a {kind}") from exc

    async def _attempt(self, kind: DocumentKind, html: str, limit: float) -> bytes:
        pool = self._current_pool()
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                return await self._run(pool, html)
        except TimeoutError as exc:
            if not deadline.expired():  # raised by the render itself, not our deadline
                raise RenderError(f"PDF rendering failed: {exc!r}") from exc
            logger.error(
                "PDF render of a %s took over %g s; replacing the worker pool", kind, limit
            )
            self._retire(pool)
            raise RenderError(f"PDF rendering took longer than {limit:g} s") from exc
        except BrokenProcessPool:
            self._retire(pool)
            raise
        except RenderError:
            raise
        except Exception as exc:
            raise RenderError(f"PDF rendering failed: {type(exc).__name__}: {exc}") from exc

    async def _run(self, pool: ProcessPoolExecutor, html: str) -> bytes:
        # submit() may start a worker process: keep that off the event loop too.
        try:
            future = await asyncio.to_thread(pool.submit, self._layout_function, html)
        except RuntimeError as exc:  # shut down because another render hung: start afresh
            raise BrokenProcessPool(str(exc)) from exc
        return await asyncio.wrap_future(future)

    def _current_pool(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RenderError("the PDF renderer is closed")
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._max_workers,
                mp_context=_worker_context(),
                initializer=_init_worker,
                initargs=(self._address_space_limit,),
                max_tasks_per_child=self._max_tasks_per_child,
            )
        return self._pool

    def _retire(self, pool: ProcessPoolExecutor) -> None:
        if pool is self._pool:
            self._pool = None
        _kill_workers(pool)

    async def aclose(self) -> None:
        """Let running renders finish (up to the timeout), then stop the workers."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        except TimeoutError:
            _kill_workers(pool)

    async def __aenter__(self) -> PdfRenderer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
