"""The PDF folder the worker processes of a machine share, and the cache in front of it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mailer.errors import RenderError
from mailer.pdf_cache import PdfCache
from mailer.pdf_files import PdfFiles
from tests.mailer.test_pdf_cache import Renders


def pdf(tag: str, size: int = 100) -> bytes:
    return b"%PDF-1.7 " + tag.encode() * size


def test_a_pdf_written_by_one_process_is_read_by_another(tmp_path: Path) -> None:
    PdfFiles(tmp_path, 10_000).write("ab12", pdf("a"))
    assert PdfFiles(tmp_path, 10_000).read("ab12") == pdf("a")
    assert PdfFiles(tmp_path, 10_000).read("cd34") is None
    assert [p.name for p in tmp_path.iterdir()] == ["ab12.pdf"]  # no temporary file left


def test_something_that_is_not_a_pdf_is_removed_and_rendered_afresh(tmp_path: Path) -> None:
    files = PdfFiles(tmp_path, 10_000)
    (tmp_path / "ab12.pdf").write_bytes(b"<html>not a pdf</html>")
    assert files.read("ab12") is None
    assert not (tmp_path / "ab12.pdf").exists()


def test_the_least_recently_used_files_go_when_the_folder_outgrows_its_bound(
    tmp_path: Path,
) -> None:
    files = PdfFiles(tmp_path, 2_500)  # a 909-byte PDF each: two fit, three do not
    for age, key in enumerate(["aa", "bb"]):
        files.write(key, pdf(key, 450))
        os.utime(tmp_path / f"{key}.pdf", (1_000_000 + age, 1_000_000 + age))
    assert files.read("aa") is not None  # aa is now the more recently used
    files.write("cc", pdf("cc", 450))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aa.pdf", "cc.pdf"]
    files.write("dd", pdf("dd", 2_000))  # larger than the whole bound: not kept
    assert files.read("dd") is None


def test_a_key_that_is_not_a_digest_never_reaches_the_disk(tmp_path: Path) -> None:
    files = PdfFiles(tmp_path / "pdfs", 10_000)
    with pytest.raises(ValueError, match="hex digest"):
        files.write("../../etc/passwd", pdf("x"))
    with pytest.raises(ValueError, match="hex digest"):
        files.read("a/b")


async def test_another_process_s_cache_serves_the_pdf_without_rendering(tmp_path: Path) -> None:
    renders = Renders()
    first, second = (
        PdfCache(10_000, PdfFiles(tmp_path, 10_000)),
        PdfCache(10_000, PdfFiles(tmp_path, 10_000)),
    )
    assert await first.get_or_render("ab12", renders.of("ab12", pdf("a"))) == pdf("a")
    assert await second.get_or_render("ab12", renders.of("ab12", b"rendered again")) == pdf("a")
    assert renders.calls == ["ab12"]
    assert (second.stats.misses, second.stats.shared_hits) == (1, 1)
    assert await second.get_or_render("ab12", renders.of("ab12", b"x")) == pdf("a")
    assert second.stats.hits == 1  # then from its own memory


async def test_a_failed_render_is_not_written(tmp_path: Path) -> None:
    renders = Renders()
    cache = PdfCache(10_000, PdfFiles(tmp_path, 10_000))
    with pytest.raises(RenderError):
        await cache.get_or_render("ab12", renders.failing("ab12"))
    assert list(tmp_path.iterdir()) == []


async def test_a_folder_that_cannot_be_written_costs_the_cache_not_the_pdf(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "pdfs"
    files = PdfFiles(folder, 10_000)
    folder.rmdir()
    folder.write_bytes(b"")  # neither readable nor writable as a folder any more, even by root
    cache = PdfCache(10_000, files)
    with caplog.at_level(logging.WARNING):
        assert await cache.get_or_render("ab12", Renders().of("ab12", pdf("a"))) == pdf("a")
    assert "cannot read the shared PDF folder" in caplog.text
    assert "cannot keep a PDF in the shared folder" in caplog.text
