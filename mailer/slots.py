"""A bounded number of deliveries in flight, and a signal when room frees up after being full."""

from __future__ import annotations

import asyncio

__all__ = ["Slots"]


class Slots:
    """Counts deliveries in flight against a limit; `freed` is set when a full set frees one.

    Only the step from full to not full signals: a scheduler that found no room waits for it,
    and nobody is woken a thousand times a second when there was room all along.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the limit must be at least 1")
        self.limit = limit
        self.busy = 0
        self.freed = asyncio.Event()

    @property
    def room(self) -> int:
        return self.limit - self.busy

    def take(self) -> bool:
        """Take a slot if one is free."""
        if self.busy >= self.limit:
            return False
        self.busy += 1
        return True

    def give_back(self) -> None:
        if self.busy == self.limit:
            self.freed.set()
        self.busy -= 1
