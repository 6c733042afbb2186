"""Delivery slots: a limit, and a signal only when a full set frees a slot."""

from __future__ import annotations

import pytest

from mailer.slots import Slots


def test_slots_are_taken_up_to_the_limit() -> None:
    slots = Slots(2)
    assert slots.take() and slots.take()
    assert not slots.take()
    assert slots.room == 0


def test_freed_is_set_only_when_a_full_set_frees_a_slot() -> None:
    slots = Slots(2)
    slots.take()
    slots.give_back()
    assert not slots.freed.is_set()  # there was room all along
    slots.take()
    slots.take()
    slots.give_back()
    assert slots.freed.is_set() and slots.room == 1


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Slots(0)
