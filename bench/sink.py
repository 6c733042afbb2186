"""The counting SMTP sink: answers 250 to everything and logs (Message-ID, time of the 250)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

FLUSH_INTERVAL = 0.2
NO_MESSAGE_ID = "-"
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
_STUFFED_DOT = re.compile(rb"(^|\r\n)\.")
_END_OF_DATA = b".\r\n"


def message_id_of(content: bytes) -> str:
    """The Message-ID in the header block of `content`, or NO_MESSAGE_ID."""
    end = content.find(b"\r\n\r\n")
    match = _MESSAGE_ID.search(content, 0, end if end >= 0 else len(content))
    return match.group(1).decode("ascii", "replace") if match else NO_MESSAGE_ID


class CountingHandler:
    """Accepts every message; buffers one `message_id<TAB>time` line per message."""

    def __init__(self) -> None:
        self.pending: list[str] = []

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.content
        data = content if isinstance(content, bytes) else (content or "").encode()
        self.pending.append(f"{message_id_of(data)}\t{time.time():.6f}\n")
        return "250 OK"

    def flush(self, log: Path) -> None:
        lines, self.pending = self.pending, []
        if lines:
            with log.open("a") as out:
                out.writelines(lines)


class BlockDataSMTP(SMTP):
    """aiosmtpd's SMTP server reading DATA in blocks: its own DATA reads line by line, which
    made the sink, not the service, the bottleneck (about 1,500 five-KB messages/s)."""

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if self.envelope is None or not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        reader = self._reader
        # The stream's limit is one line (RFC 5321's 1,000 bytes) for the command loop.
        reader._limit = MAX_MESSAGE_BYTES  # type: ignore[attr-defined]
        try:
            data = await _read_data(reader)
        except asyncio.LimitOverrunError:
            await self.push("552 Error: Too much mail data")
            self._writer.close()
            return
        finally:
            reader._limit = self.line_length_limit  # type: ignore[attr-defined]
        self.envelope.content = self.envelope.original_content = data
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)


async def _read_data(reader: asyncio.StreamReader) -> bytes:
    """The message up to the lone dot that ends it, with RFC 5321 4.5.2 dot-stuffing undone."""
    block = bytearray()
    while not (block == _END_OF_DATA or block.endswith(b"\r\n" + _END_OF_DATA)):
        block += await reader.readuntil(_END_OF_DATA)
    data = bytes(block[: -len(_END_OF_DATA)])
    if data.startswith(b".") or b"\r\n." in data:
        data = _STUFFED_DOT.sub(rb"\1", data)
    return data


async def serve(port: int, log: Path) -> None:
    """Listen on 127.0.0.1:`port` until SIGTERM or SIGINT, flushing `log` as it goes."""
    handler = CountingHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: BlockDataSMTP(handler, hostname="bench-sink", auth_require_tls=False),
        host="127.0.0.1",
        port=port,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    while not stop.is_set():
        handler.flush(log)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FLUSH_INTERVAL)
    server.close()
    handler.flush(log)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    args.log.touch()
    asyncio.run(serve(args.port, args.log))


if __name__ == "__main__":
    main()
