"""Rendered PDFs kept by content: a byte-bounded LRU that renders each missing document once."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import weasyprint

from mailer.pdf import PDF_TEMPLATES_DIR
from mailer.pdf_files import PdfFiles

__all__ = [
    "CacheStats",
    "PdfCache",
    "PdfRender",
    "directory_fingerprint",
    "document_key",
    "templates_fingerprint",
]

logger = logging.getLogger(__name__)

PdfRender = Callable[[], Coroutine[Any, Any, bytes]]


def document_key(html: str, filename: str) -> str:
    """The cache key of a document: exactly what WeasyPrint lays out, and the file name.

    The HTML carries every value the PDF shows; the templates fingerprint covers what the HTML
    only refers to (the stylesheet) and the WeasyPrint version.
    """
    return _digest(templates_fingerprint().encode(), filename.encode(), html.encode())


def inputs_key(kind: str, locale: str, data_json: str) -> str:
    """What a document's HTML is made from: its kind, locale and data, and the templates."""
    return _digest(
        templates_fingerprint().encode(), kind.encode(), locale.encode(), data_json.encode()
    )


@functools.cache
def templates_fingerprint() -> str:
    """The PDF templates, strings and assets as one hash, read once per process."""
    return _digest(
        weasyprint.__version__.encode(), directory_fingerprint(PDF_TEMPLATES_DIR).encode()
    )


def directory_fingerprint(root: Path) -> str:
    """A hash of every file's path (relative to `root`) and content."""
    parts: list[bytes] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts += [path.relative_to(root).as_posix().encode(), path.read_bytes()]
    return _digest(*parts)


def _digest(*parts: bytes) -> str:
    # Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What a PdfCache has done since it was made, and what it holds now.

    `hits` were served from memory; `misses` were not, and started a read of the folder the
    machine's processes share, then a render if the folder had none; `shared_hits` are the
    misses the folder served; `coalesced` waited for a miss another caller had started;
    `evictions` dropped the least recently used entry to stay within `max_bytes`.
    """

    hits: int
    shared_hits: int
    misses: int
    coalesced: int
    evictions: int
    entries: int
    size_bytes: int
    max_bytes: int


class PdfCache:
    """An in-memory LRU of rendered PDFs by content key, bounded by their total size in bytes,
    in front of an optional folder of PDFs that the machine's worker processes share.

    Concurrent misses for one key share a single render. A failed render is not kept: every
    caller waiting on it gets its error, and the next caller renders afresh. A PDF larger than
    the whole bound is returned but not kept. The folder is a help, not a need: if it cannot
    be read or written (a full disk), PDFs are rendered and sent all the same.
    """

    def __init__(self, max_bytes: int, files: PdfFiles | None = None) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self._max_bytes = max_bytes
        self._files = files
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._pending: dict[str, asyncio.Task[bytes]] = {}
        self._hits = 0
        self._shared_hits = 0
        self._misses = 0
        self._coalesced = 0
        self._evictions = 0

    def get(self, key: str) -> bytes | None:
        """The PDF under `key` if the cache holds it (a hit), else None (not counted)."""
        cached = self._entries.get(key)
        if cached is not None:
            self._entries.move_to_end(key)
            self._hits += 1
        return cached

    async def get_or_render(self, key: str, render: PdfRender) -> bytes:
        """The PDF under `key`, from the cache, from a render in progress, or from `render()`."""
        cached = self.get(key)
        if cached is not None:
            return cached
        pending = self._pending.get(key)
        if pending is None:
            self._misses += 1
            pending = asyncio.create_task(
                self._read_or_render(key, render), name=f"pdf-render-{key[:12]}"
            )
            self._pending[key] = pending
            pending.add_done_callback(functools.partial(self._settle, key))
        else:
            self._coalesced += 1
        # Shielded: a caller that gives up must not cancel the render the others wait for.
        return await asyncio.shield(pending)

    async def _read_or_render(self, key: str, render: PdfRender) -> bytes:
        if self._files is not None:
            try:
                kept = await asyncio.to_thread(self._files.read, key)
            except OSError as exc:
                logger.warning("cannot read the shared PDF folder: %s", exc)
                kept = None
            if kept is not None:
                self._shared_hits += 1
                return kept
        pdf = await render()
        if self._files is not None:
            try:
                await asyncio.to_thread(self._files.write, key, pdf)
            except OSError as exc:
                logger.warning("cannot keep a PDF in the shared folder: %s", exc)
        return pdf

    @property
    def stats(self) -> CacheStats:
        return CacheStats(
            hits=self._hits,
            shared_hits=self._shared_hits,
            misses=self._misses,
            coalesced=self._coalesced,
            evictions=self._evictions,
            entries=len(self._entries),
            size_bytes=self._size,
            max_bytes=self._max_bytes,
        )

    def _settle(self, key: str, task: asyncio.Task[bytes]) -> None:
        del self._pending[key]
        # exception() also marks the error as seen when every caller has given up waiting.
        if not task.cancelled() and task.exception() is None:
            self._keep(key, task.result())

    def _keep(self, key: str, pdf: bytes) -> None:
        if len(pdf) > self._max_bytes:
            return
        self._entries[key] = pdf
        self._size += len(pdf)
        while self._size > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted)
            self._evictions += 1
