"""A tiny Twilio-compatible HTTP/1.1 server on loopback: records requests, scripts replies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "s3cret-auth-token"


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request; `hang` never answers (for timeouts)."""

    status: int = 201
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


class FakeTwilio:
    """Answers `201 {"sid": "SM..."}` unless `replies` says otherwise, request by request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        self.connections = 0
        self._outcomes: list[bool] = []
        self._stopping = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def accepted(self) -> list[Received]:
        """Requests answered 2xx (what the carrier would have sent)."""
        return [r for r, ok in zip(self.requests, self._outcomes, strict=True) if ok]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping.set()
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while request := await _read_request(reader):
                self.requests.append(request)
                reply = self.replies.pop(0) if self.replies else Reply()
                self._outcomes.append(200 <= reply.status < 300 and not reply.hang)
                if reply.hang:
                    await self._stopping.wait()
                    return
                writer.write(_response(reply))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    line = await reader.readline()
    if not line.strip():
        return None
    method, target, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return Received(method, target, headers, form)


def _response(reply: Reply) -> bytes:
    body = reply.body
    if body is None and 200 <= reply.status < 300:
        body = {"sid": "SM" + secrets.token_hex(16), "status": "queued"}
    payload = json.dumps(body or {}).encode()
    lines = [
        f"HTTP/1.1 {reply.status} Scripted",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in reply.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@contextlib.asynccontextmanager
async def running_fake_twilio() -> AsyncIterator[FakeTwilio]:
    server = FakeTwilio()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def twilio_error(status: int, code: int, message: str, **headers: str) -> Reply:
    """A reply shaped like Twilio's error documents."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Reply(status, body, dict(headers))
