"""RetryPolicy: capped exponential backoff with jitter, retry hints and the horizon."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from mailer.errors import ConfigurationError
from mailer.retry import RetryPolicy

NO_JITTER = RetryPolicy(jitter=0)
START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def test_defaults() -> None:
    policy = RetryPolicy()

    assert (policy.initial_delay, policy.max_delay, policy.multiplier) == (60, 3600, 2)
    assert policy.horizon == timedelta(hours=24)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (8, 3600), (10_000, 3600)],
)
def test_exponential_growth_is_capped(attempt: int, expected: float) -> None:
    assert NO_JITTER.next_delay(attempt) == expected


def test_multiplier_one_is_a_constant_delay() -> None:
    policy = RetryPolicy(multiplier=1, jitter=0)

    assert {policy.next_delay(n) for n in (1, 5, 500)} == {60}


@pytest.mark.parametrize("attempt", [1, 3, 7, 50])
def test_jitter_only_shortens_within_its_fraction(attempt: int) -> None:
    policy = RetryPolicy(jitter=0.25)
    rng = random.Random(7)
    base = NO_JITTER.next_delay(attempt)

    delays = [policy.next_delay(attempt, rng=rng) for _ in range(500)]

    assert all(base * 0.75 <= d <= base for d in delays)
    assert len(set(delays)) > 1


def test_the_same_seed_gives_the_same_delays() -> None:
    policy = RetryPolicy()

    first = [policy.next_delay(n, rng=random.Random(3)) for n in range(1, 6)]
    second = [policy.next_delay(n, rng=random.Random(3)) for n in range(1, 6)]

    assert first == second


def test_retry_after_is_a_lower_bound() -> None:
    assert NO_JITTER.next_delay(1, retry_after=300) == 300
    assert NO_JITTER.next_delay(5, retry_after=30) == 960


def test_retry_after_is_capped_at_max_delay() -> None:
    assert NO_JITTER.next_delay(1, retry_after=86_400) == 3600


@pytest.mark.parametrize("hint", [0, -5, None])
def test_meaningless_retry_after_is_ignored(hint: float | None) -> None:
    assert NO_JITTER.next_delay(2, retry_after=hint) == 120


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        NO_JITTER.next_delay(0)


def test_gives_up_only_beyond_the_horizon() -> None:
    policy = RetryPolicy(horizon=timedelta(hours=24))

    assert not policy.gives_up(START, START + timedelta(hours=23, minutes=59))
    assert not policy.gives_up(START, START + timedelta(hours=24))
    assert policy.gives_up(START, START + timedelta(hours=24, seconds=1))


def test_a_full_schedule_stays_within_bounds_and_ends() -> None:
    policy = RetryPolicy()
    rng = random.Random(1)
    at, attempt = START, 1

    while True:
        delay = policy.next_delay(attempt, rng=rng)
        assert 0 < delay <= policy.max_delay
        if policy.gives_up(START, at + timedelta(seconds=delay)):
            break
        at += timedelta(seconds=delay)
        attempt += 1

    assert 20 < attempt < 40


@pytest.mark.parametrize(
    "options",
    [
        {"initial_delay": 0},
        {"initial_delay": 10, "max_delay": 5},
        {"multiplier": 0.5},
        {"jitter": 1},
        {"jitter": -0.1},
        {"horizon": timedelta(0)},
    ],
)
def test_invalid_policies_are_rejected(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**options)  # type: ignore[arg-type]
