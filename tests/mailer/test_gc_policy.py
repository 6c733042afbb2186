"""The worker's garbage collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mailer.gc_policy import YOUNG_GENERATION_THRESHOLD, tune_for_throughput


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    loaded_at_start_up = [object() for _ in range(1000)]
    tune_for_throughput()
    assert gc.get_freeze_count() >= len(loaded_at_start_up)
    assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD > 700
    collections_before = gc.get_stats()[0]["collections"]
    garbage: list[list[int]] = [[] for _ in range(5000)]
    del garbage
    assert gc.get_stats()[0]["collections"] == collections_before
