"""The DNS adapter of domain verification: looks up the records a tenant should have published."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from mailer.domains import Answer, ExpectedRecord, Query, queries_for
from mailer.errors import ConfigurationError
from mailer.settings import parse_listen

__all__ = ["DEFAULT_TIMEOUT", "lookup", "make_resolver"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0
"""Seconds to wait for one server to answer one query."""
LIFETIME_FACTOR = 3
"""One question may take this many query timeouts in all (retries and servers included)."""
EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: large DKIM keys fit, fragmentation does not


def make_resolver(
    resolver_address: str | None, *, timeout: float = DEFAULT_TIMEOUT
) -> dns.asyncresolver.Resolver:
    """A resolver asking `HOST:PORT` (a test server, a company resolver), or the system's."""
    if resolver_address is None:
        try:
            resolver = dns.asyncresolver.Resolver(configure=True)
        except dns.exception.DNSException as exc:
            raise ConfigurationError(f"no usable system DNS resolver: {exc}") from exc
    else:
        try:
            host, port = parse_listen(resolver_address)
        except ValueError as exc:
            raise ConfigurationError(f"MAILER_DNS_RESOLVER: {exc}") from exc
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout * LIFETIME_FACTOR
    resolver.use_edns(0, 0, EDNS_PAYLOAD)
    resolver.cache = None  # a tenant who just fixed a record wants to see it at once
    return resolver


async def lookup(
    records: Iterable[ExpectedRecord],
    resolver_address: str | None,
    *,
    query_timeout: float = DEFAULT_TIMEOUT,
) -> dict[Query, Answer]:
    """The answers to every question the records raise; failures become answers, never errors."""
    queries = queries_for(records)
    try:
        resolver = make_resolver(resolver_address, timeout=query_timeout)
    except ConfigurationError as exc:
        logger.error("DNS verification cannot run: %s", exc)
        return {query: Answer(error=str(exc)) for query in queries}
    answers = await asyncio.gather(*(_ask(resolver, name, kind) for name, kind in queries))
    return dict(zip(queries, answers, strict=True))


async def _ask(resolver: dns.asyncresolver.Resolver, name: str, kind: str) -> Answer:
    try:
        answer = await resolver.resolve(name + ".", kind, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return Answer()
    except dns.resolver.NoNameservers:
        return Answer(error="no DNS server answered (SERVFAIL or REFUSED)")
    except dns.exception.Timeout:
        return Answer(error="the DNS query timed out")
    except dns.exception.DNSException as exc:
        return Answer(error=f"DNS error: {type(exc).__name__}")
    except OSError as exc:
        return Answer(error=f"DNS server unreachable: {exc.strerror or type(exc).__name__}")
    if answer.rrset is None:
        return Answer()
    return Answer(tuple(_text(rdata, answer.rrset.rdtype) for rdata in answer.rrset))


def _text(rdata: object, rdtype: dns.rdatatype.RdataType) -> str:
    if rdtype == dns.rdatatype.TXT:
        strings: tuple[bytes, ...] = getattr(rdata, "strings", ())
        return b"".join(strings).decode("utf-8", "replace")
    if rdtype == dns.rdatatype.MX:
        exchange = str(getattr(rdata, "exchange", "")).rstrip(".").lower()
        return f"{getattr(rdata, 'preference', 0)} {exchange}"
    if rdtype == dns.rdatatype.CNAME:
        return str(getattr(rdata, "target", "")).rstrip(".").lower()
    return str(rdata)
