"""When to try a temporarily failed delivery again, and when to give up: pure arithmetic."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailer.errors import ConfigurationError

__all__ = [
    "DEFAULT_HORIZON",
    "DEFAULT_INITIAL_DELAY",
    "DEFAULT_JITTER",
    "DEFAULT_MAX_DELAY",
    "DEFAULT_MULTIPLIER",
    "RetryPolicy",
]

DEFAULT_INITIAL_DELAY = 60.0
DEFAULT_MAX_DELAY = 3600.0
DEFAULT_MULTIPLIER = 2.0
DEFAULT_JITTER = 0.2
DEFAULT_HORIZON = timedelta(hours=24)

_rng = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, bounded by a horizon since the first attempt.

    The n-th retry waits ``initial_delay * multiplier ** (n - 1)``, capped at ``max_delay``, then
    shortened by up to ``jitter`` (a fraction) so that messages deferred together spread out;
    jitter only shortens, so ``max_delay`` is a true upper bound. A server's retry hint is a
    lower bound on the wait (it knows when it will accept again), itself capped at
    ``max_delay`` so that a hostile or mistaken hint cannot park a message for days.
    """

    initial_delay: float = DEFAULT_INITIAL_DELAY
    max_delay: float = DEFAULT_MAX_DELAY
    multiplier: float = DEFAULT_MULTIPLIER
    jitter: float = DEFAULT_JITTER
    horizon: timedelta = DEFAULT_HORIZON

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay <= self.max_delay:
            raise ConfigurationError("retry delays need 0 < initial_delay <= max_delay")
        if not self.multiplier >= 1:
            raise ConfigurationError("retry multiplier must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ConfigurationError("retry jitter must be a fraction in [0, 1)")
        if self.horizon <= timedelta(0):
            raise ConfigurationError("retry horizon must be positive")

    def next_delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (the first attempt is 1)."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        delay = self._backoff(attempt) * (1 - self.jitter * (rng or _rng).random())
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay

    def retry_at(
        self,
        attempt: int,
        first_attempt_at: datetime,
        now: datetime,
        retry_after: float | None = None,
    ) -> datetime | None:
        """When to try again after failed attempt number ``attempt``; None to give up."""
        next_attempt_at = now + timedelta(seconds=self.next_delay(attempt, retry_after))
        return None if self.gives_up(first_attempt_at, next_attempt_at) else next_attempt_at

    def gives_up(self, first_attempt_at: datetime, next_attempt_at: datetime) -> bool:
        """Whether an attempt at ``next_attempt_at`` would fall beyond the horizon."""
        return next_attempt_at - first_attempt_at > self.horizon

    def _backoff(self, attempt: int) -> float:
        # Cap the exponent before raising to it: a large attempt number would overflow a float.
        if self.multiplier > 1:
            steps_to_cap = math.log(self.max_delay / self.initial_delay, self.multiplier)
            exponent = min(attempt - 1, math.ceil(steps_to_cap))
        else:
            exponent = 0
        return min(self.max_delay, self.initial_delay * self.multiplier**exponent)
