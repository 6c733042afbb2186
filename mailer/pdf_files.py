"""Rendered PDFs kept as files by content key, shared by the worker processes of one machine."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

__all__ = ["PdfFiles"]

logger = logging.getLogger(__name__)

_SUFFIX = ".pdf"
_PDF_MAGIC = b"%PDF-"
# Eviction brings the folder down to this share of its bound, so it does not run on every write.
_LOW_WATER = 0.9


class PdfFiles:
    """A folder of PDFs named by their content key, bounded in total size.

    Every consuming process of a machine reads and writes the same folder, so a document one
    of them laid out is not laid out again by another. Files are written whole under a
    temporary name and renamed, so a reader never sees half a PDF; the least recently used
    files go first when the folder outgrows its bound. Blocking calls: run them in a thread.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self._directory = directory
        self._max_bytes = max_bytes
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._size = self._total_size()

    def read(self, key: str) -> bytes | None:
        """The PDF under `key`, or None if no process kept it (or it was evicted)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if not data.startswith(_PDF_MAGIC):  # not ours, or damaged by hand: render afresh
            logger.warning("removing %s from the PDF folder: not a PDF", path.name)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)  # recently used: evicted last
        return data

    def write(self, key: str, pdf: bytes) -> None:
        """Keep `pdf` under `key`, unless it alone is larger than the bound."""
        if len(pdf) > self._max_bytes:
            return
        path = self._path(key)
        partial = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}")
        partial.write_bytes(pdf)
        os.replace(partial, path)
        self._size += len(pdf)
        if self._size > self._max_bytes:
            self._evict()

    def _evict(self) -> None:
        """Remove the least recently used files down to the low-water mark.

        Another process may be evicting too: a file gone already is simply skipped, and a
        reader holding a removed file open still reads it whole."""
        files = []
        for path in self._directory.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
        files.sort()
        self._size = sum(size for _mtime, size, _path in files)
        target = self._max_bytes * _LOW_WATER
        for _mtime, size, path in files:
            if self._size <= target:
                break
            path.unlink(missing_ok=True)
            self._size -= size

    def _total_size(self) -> int:
        total = 0
        for path in self._directory.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def _path(self, key: str) -> Path:
        if not key.isalnum():  # keys are hex digests; anything else must not reach the disk
            raise ValueError("a PDF key is a hex digest")
        return self._directory / f"{key}{_SUFFIX}"
