"""The publisher process: sends a workload's events to the broker and logs when each went out."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.events import Workload, workload_events
from mailer.broker import BrokerPublisher, create_broker

DEFAULT_CONCURRENCY = 32
PUBLISH_TRIES = 6
TRAILER = "#"
"""Marks the last log line: `# <cpu seconds of the publishing> <peak RSS in KiB>`."""


async def publish_patiently(publisher: BrokerPublisher, body: bytes) -> None:
    """Publish, trying again when the broker is too busy to confirm in time.

    A retried event may reach the stream twice; the service takes each event once."""
    for attempt in range(PUBLISH_TRIES):
        try:
            await publisher.publish_send(body)
            return
        except TimeoutError:
            if attempt == PUBLISH_TRIES - 1:
                raise
            await asyncio.sleep(0.5 * 2**attempt)


async def run(args: argparse.Namespace) -> list[str]:
    """Publish the events, at most `concurrency` unacknowledged at once; the log lines."""
    broker = create_broker(args.broker)
    lines: list[str] = []
    slots = asyncio.Semaphore(args.concurrency)
    tasks: list[asyncio.Task[None]] = []

    async def send(publisher: BrokerPublisher, body: bytes) -> None:
        try:
            await publish_patiently(publisher, body)
        finally:
            slots.release()

    async with broker:
        await broker.connect()
        publisher = BrokerPublisher(broker)
        events = workload_events(args.workload, args.prefix, args.count, cycle=args.cycle)
        loop = asyncio.get_running_loop()
        cpu_start = time.process_time()
        start = loop.time()
        for index, (ident, body) in enumerate(events):
            if args.rate > 0:
                await asyncio.sleep(max(0.0, start + index / args.rate - loop.time()))
            await slots.acquire()
            lines.append(f"{ident}\t{time.time():.6f}\n")
            tasks.append(asyncio.create_task(send(publisher, body)))
        await asyncio.gather(*tasks)
        cpu = time.process_time() - cpu_start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lines.append(f"{TRAILER} {cpu:.6f} {peak_kib}\n")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.publisher", description=__doc__)
    parser.add_argument("--broker", required=True, help="broker URL")
    parser.add_argument("--workload", type=Workload, choices=list(Workload), required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--prefix", required=True, help="event ids are PREFIX-000000 ...")
    parser.add_argument("--cycle", type=int, default=1, help="invoices the reminders cycle over")
    parser.add_argument("--rate", type=float, default=0.0, help="events/s; 0: as fast as possible")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        lines = asyncio.run(run(args))
    except Exception as exc:
        print(f"publisher failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    args.log.write_text("".join(lines))


if __name__ == "__main__":
    main()
