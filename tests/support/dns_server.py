"""A real authoritative DNS server on 127.0.0.1 (UDP and TCP, one port) serving what a test sets.

Built on dnspython's message API; it runs its own event loop in a thread, so synchronous
verifiers (dkimpy's dnsfunc, a perl subprocess) can query it while the test waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 60
UDP_DEFAULT_PAYLOAD = 512


def txt(*strings: str) -> str:
    """A TXT rdata in zone-file form; a long value is cut into 255-byte strings, as published."""
    parts = [s[i : i + 255] for s in strings for i in range(0, max(len(s), 1), 255)]
    return " ".join('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)


class DnsServer:
    """Answers authoritatively from `records`; NXDOMAIN for names it holds nothing at."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str, str]] = []  # (name, type, udp|tcp)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, name: str, rdtype: str, *values: str) -> None:
        """Serve `values` (zone-file rdata) as the `rdtype` records of `name`; none removes them."""
        key = (name.lower().rstrip("."), rdtype.upper())
        with self._lock:
            if values:
                self._records[key] = list(values)
            else:
                self._records.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    # --- answering -------------------------------------------------------------------

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype, transport))
        with self._lock:
            self._fill(response, name, rdtype)
        if transport == "tcp":
            return response.to_wire()
        limit = max(query.payload, UDP_DEFAULT_PAYLOAD) if query.edns >= 0 else UDP_DEFAULT_PAYLOAD
        return response.to_wire(max_size=limit, prefer_truncation=True)

    def _fill(self, response: dns.message.Message, name: str, rdtype: str) -> None:
        for _ in range(8):  # follow CNAMEs within what is served, as an authoritative server does
            if not any(key[0] == name for key in self._records):
                if not response.answer:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                return
            cname = self._records.get((name, "CNAME"))
            if cname and rdtype != "CNAME":
                response.answer.append(dns.rrset.from_text(name + ".", TTL, "IN", "CNAME", *cname))
                name = cname[0].rstrip(".").lower()
                continue
            values = self._records.get((name, rdtype))
            if values:
                response.answer.append(dns.rrset.from_text(name + ".", TTL, "IN", rdtype, *values))
            return

    # --- serving ---------------------------------------------------------------------

    async def _serve(self, started: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        server = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                reply = server.answer(data, "udp")
                if reply is not None:
                    self.transport.sendto(reply, addr)  # type: ignore[attr-defined]

        async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    reply = server.answer(await reader.readexactly(length), "tcp")
                    if reply is None:
                        break
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
            writer.close()

        for _attempt in range(20):  # the UDP port must also be free for TCP
            udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
            port = udp.get_extra_info("sockname")[1]
            try:
                tcp_server = await asyncio.start_server(tcp, "127.0.0.1", port)
                break
            except OSError:
                udp.close()
        else:
            raise RuntimeError("no free port for the test DNS server")
        self.port, self._stop = port, asyncio.Event()
        started.set()
        try:
            await self._stop.wait()
        finally:
            tcp_server.close()
            udp.close()

    def start(self) -> None:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._serve(started),), daemon=True
        )
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the test DNS server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        if self._loop is not None:
            self._loop.close()


@contextlib.contextmanager
def dns_server() -> Iterator[DnsServer]:
    """A running DnsServer, stopped afterwards."""
    server = DnsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def udp_socket_free(port: int) -> bool:
    """Whether nothing listens on a UDP port (used to check the server stopped)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
