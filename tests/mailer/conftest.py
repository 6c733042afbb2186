"""Fixtures shared by the mailer's tests: the inbox app's clock pinned to the seed's NOW."""

from __future__ import annotations

import pytest

from tests.support.inbox import pin_clock


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    pin_clock(monkeypatch)
