"""Group commit: concurrent callers share batches, each gets its own result or the batch's error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from mailer.coalesce import Coalescer


class Recorder:
    """A batch handler that doubles its items and remembers the batches it was given."""

    def __init__(self, *, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await self.release.wait()
        if self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [item * 2 for item in items]


async def test_a_lone_caller_gets_its_result_in_a_batch_of_one() -> None:
    handler = Recorder()
    assert await Coalescer(handler)(21) == 42
    assert handler.batches == [[21]]


async def test_callers_arriving_during_a_batch_form_the_next_one() -> None:
    handler = Recorder()
    coalescer = Coalescer(handler)
    handler.release.clear()
    first = asyncio.create_task(coalescer(1))
    await asyncio.sleep(0)  # the first batch starts and waits
    await asyncio.sleep(0)
    later = [asyncio.create_task(coalescer(n)) for n in range(2, 7)]
    await asyncio.sleep(0)
    handler.release.set()
    assert await asyncio.gather(first, *later) == [2, 4, 6, 8, 10, 12]
    assert handler.batches == [[1], [2, 3, 4, 5, 6]]


async def test_batches_are_capped_and_keep_arrival_order() -> None:
    handler = Recorder()
    coalescer = Coalescer(handler, max_batch=3)
    results = await asyncio.gather(*(coalescer(n) for n in range(8)))
    assert results == [n * 2 for n in range(8)]
    assert handler.batches == [[0, 1, 2], [3, 4, 5], [6, 7]]


async def test_a_failing_batch_fails_its_callers_only() -> None:
    handler = Recorder(fail_on=4)
    coalescer = Coalescer(handler, max_batch=3)
    outcomes = await asyncio.gather(*(coalescer(n) for n in range(6)), return_exceptions=True)
    assert outcomes[:3] == [0, 2, 4]
    assert all(isinstance(o, ValueError) for o in outcomes[3:])
    assert await coalescer(7) == 14  # the coalescer keeps working after a failure


async def test_a_handler_giving_the_wrong_number_of_results_is_an_error() -> None:
    async def short(items: Sequence[int]) -> list[int]:
        return list(items)[1:]

    with pytest.raises(RuntimeError, match="results"):
        await Coalescer(short)(1)


async def test_cancelling_the_runner_cancels_the_callers_waiting_on_it() -> None:
    handler = Recorder()
    handler.release.clear()
    coalescer = Coalescer(handler)
    callers = [asyncio.create_task(coalescer(n)) for n in range(3)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    runner = coalescer._runner
    assert runner is not None
    runner.cancel()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
