"""Group commit: one call of a batch handler for the items concurrent callers hand in meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

In = TypeVar("In")
Out = TypeVar("Out")

BatchHandler = Callable[[Sequence[In]], Awaitable[Sequence[Out]]]


class Coalescer(Generic[In, Out]):
    """Callers await their own result; their items are handled together, one batch at a time.

    Nothing waits for a batch to fill: an item arriving at an idle coalescer is handled at
    the next turn of the event loop, and the items that arrive while a batch is being handled
    form the next one. So a lone caller pays no delay, and under load the cost of a
    transaction is shared by everyone who arrived during the previous one.
    """

    def __init__(self, handle: BatchHandler[In, Out], *, max_batch: int = 256) -> None:
        self._handle = handle
        self._max_batch = max_batch
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, item: In) -> Out:
        """`item`'s result from the batch it ends up in; the handler's error if that batch fails."""
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._run(batch)
        finally:
            self._runner = None
            for _item, future in self._waiting:  # only left over when the runner was cancelled
                future.cancel()
            self._waiting.clear()

    async def _run(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            results = await self._handle([item for item, _future in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch handler gave {len(results)} results for {len(batch)}")
        except asyncio.CancelledError:
            for _item, future in batch:
                future.cancel()
            raise
        except BaseException as exc:  # each caller gets the error, as it would alone
            for _item, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_item, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
