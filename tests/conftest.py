"""Shared fixtures: example events as other teams publish them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent / "fixtures" / "events"


def example_paths() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.json"))


def load_example(name: str) -> dict[str, Any]:
    """An example event by file stem, e.g. `invoice.new`."""
    document: dict[str, Any] = json.loads((EXAMPLES_DIR / f"{name}.json").read_text())
    return document


@pytest.fixture
def invoice_event() -> dict[str, Any]:
    return load_example("invoice.new")
