"""Shared fixtures: example events as other teams publish them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer, default_templates_dir

EXAMPLES_DIR = Path(__file__).resolve().parent / "fixtures" / "events"


def example_paths() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.json"))


def load_example(name: str) -> dict[str, Any]:
    """An example event by file stem, e.g. `invoice.new`."""
    document: dict[str, Any] = json.loads((EXAMPLES_DIR / f"{name}.json").read_text())
    return document


@pytest.fixture(scope="session")
def pdfs() -> Iterator[PdfRenderer]:
    """One PDF process pool for the whole run (starting one costs a second)."""
    renderer = PdfRenderer(max_workers=2)
    yield renderer
    asyncio.run(renderer.aclose())


@pytest.fixture(scope="session")
def renderer() -> EmailRenderer:
    """The email renderer over the shipped templates (compiling them all takes a moment)."""
    return EmailRenderer(default_templates_dir())


@pytest.fixture
def invoice_event() -> dict[str, Any]:
    return load_example("invoice.new")
