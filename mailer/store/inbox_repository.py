"""Write-side queries of the A/R inbox: threads, entries, bounces, suppressions, forwarding."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from mailer.store.inbox_models import (
    BounceRecord,
    EntryDirection,
    ForwardingAddress,
    InboundMessage,
    InboundState,
    Suppression,
    Thread,
    ThreadEntry,
)
from mailer.store.models import Recipient, SendRequest


def new_token() -> str:
    """A token for addresses on the bounce domain: lowercase, since some MTAs fold case."""
    return secrets.token_hex(10)


async def ensure_thread(
    session: AsyncSession, tenant: str, key: str, subject: str, now: datetime
) -> Thread:
    """The tenant's thread with this key, created on first use (safe under concurrent callers)."""
    found = await _thread_by_key(session, tenant, key)
    if found is not None:
        return found
    thread = new_thread(tenant, key, subject, now)
    try:
        async with session.begin_nested():
            session.add(thread)
    except IntegrityError:
        found = await _thread_by_key(session, tenant, key)
        if found is None:
            raise
        return found
    return thread


async def threads_by_key(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Thread]:
    """The existing threads among `keys` (tenant, key)."""
    wanted = set(keys)
    if not wanted:
        return {}
    query = select(Thread).where(
        Thread.tenant.in_({tenant for tenant, _ in wanted}),
        Thread.key.in_({key for _, key in wanted}),
    )
    found = (await session.execute(query)).scalars()
    return {(t.tenant, t.key): t for t in found if (t.tenant, t.key) in wanted}


def new_thread(tenant: str, key: str, subject: str, now: datetime) -> Thread:
    """A thread not stored yet; two workers adding the same key meet at its unique constraint."""
    return Thread(
        tenant=tenant,
        key=key,
        subject=subject[:500],
        reply_token=new_token(),
        created_at=now,
        updated_at=now,
    )


async def _thread_by_key(session: AsyncSession, tenant: str, key: str) -> Thread | None:
    return (await threads_by_key(session, [(tenant, key)])).get((tenant, key))


async def thread_by_reply_token(session: AsyncSession, token: str) -> Thread | None:
    query = select(Thread).where(Thread.reply_token == token)
    return (await session.execute(query)).scalar_one_or_none()


def add_entry(session: AsyncSession, thread: Thread, entry: ThreadEntry) -> None:
    """Append an entry to a thread and bring the thread to the top of the inbox."""
    entry.thread_id, entry.tenant = thread.id, thread.tenant
    thread.updated_at = max(thread.updated_at, entry.at)
    session.add(entry)


async def with_outgoing_entry(session: AsyncSession, request_pks: Iterable[int]) -> set[int]:
    """Which of the send requests already have their outgoing entry in a thread."""
    wanted = set(request_pks)
    if not wanted:
        return set()
    query = select(ThreadEntry.send_request_id).where(
        ThreadEntry.send_request_id.in_(wanted),
        ThreadEntry.direction == EntryDirection.OUTGOING.value,
    )
    return {pk for pk in (await session.execute(query)).scalars() if pk is not None}


async def suppressed_addresses(
    session: AsyncSession, tenant: str, addresses: Iterable[str]
) -> set[str]:
    """Which of `addresses` the tenant has suppressed (compared case-insensitively)."""
    wanted = {address.lower(): address for address in addresses}
    if not wanted:
        return set()
    query = select(Suppression.address).where(
        Suppression.tenant == tenant, Suppression.address.in_(list(wanted))
    )
    return {wanted[address] for address in (await session.execute(query)).scalars()}


async def suppressed_pairs(
    session: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which (tenant, address) pairs are suppressed, as given (addresses compared lower-cased)."""
    wanted = {(tenant, address.lower()): (tenant, address) for tenant, address in pairs}
    if not wanted:
        return set()
    query = select(Suppression.tenant, Suppression.address).where(
        Suppression.tenant.in_({tenant for tenant, _ in wanted}),
        Suppression.address.in_({address for _, address in wanted}),
    )
    rows = (await session.execute(query)).all()
    return {wanted[(t, a)] for t, a in rows if (t, a) in wanted}


async def suppress(
    session: AsyncSession, tenant: str, address: str, reason: str, detail: str | None, now: datetime
) -> bool:
    """Put an address on the tenant's suppression list; False if it already was."""
    if await suppressed_addresses(session, tenant, [address]):
        return False
    try:
        async with session.begin_nested():
            session.add(
                Suppression(
                    tenant=tenant, address=address.lower(), reason=reason, detail=detail,
                    created_at=now,
                )
            )  # fmt: skip
    except IntegrityError:
        return False
    return True


async def soft_bounces_since(
    session: AsyncSession, tenant: str, address: str, since: datetime
) -> int:
    query = select(func.count(BounceRecord.id)).where(
        BounceRecord.tenant == tenant,
        BounceRecord.address == address.lower(),
        BounceRecord.hard.is_(False),
        BounceRecord.at >= since,
    )
    return int((await session.execute(query)).scalar_one())


async def request_by_verp_token(session: AsyncSession, token: str) -> SendRequest | None:
    """The message whose return path or X-Mailer-Ref carries `token` (tokens are unique)."""
    return await _one_request(session, SendRequest.verp_token == token)


async def request_by_message_id(
    session: AsyncSession, tenant: str, message_id: str
) -> SendRequest | None:
    return await _one_request(
        session, SendRequest.tenant == tenant, SendRequest.message_id == message_id
    )


async def request_by_ref(session: AsyncSession, tenant: str, token: str) -> SendRequest | None:
    """A tenant's request by the token of our X-Mailer-Ref header (never another tenant's)."""
    return await _one_request(
        session, SendRequest.tenant == tenant, SendRequest.verp_token == token
    )


async def latest_request_to(
    session: AsyncSession, tenant: str, address: str, since: datetime
) -> SendRequest | None:
    """The tenant's newest request to `address` created after `since`."""
    query = (
        select(SendRequest)
        .join(Recipient, Recipient.send_request_id == SendRequest.id)
        .where(
            SendRequest.tenant == tenant,
            func.lower(Recipient.address) == address.lower(),
            SendRequest.created_at >= since,
        )
        .order_by(SendRequest.created_at.desc())
        .limit(1)
        .options(selectinload(SendRequest.recipients))
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _one_request(
    session: AsyncSession, *conditions: ColumnElement[bool]
) -> SendRequest | None:
    query = select(SendRequest).where(*conditions).options(selectinload(SendRequest.recipients))
    return (await session.execute(query)).scalar_one_or_none()


async def forwarding_token(session: AsyncSession, tenant: str, now: datetime) -> str:
    """The tenant's forwarding token, created on first use."""
    query = select(ForwardingAddress.token).where(ForwardingAddress.tenant == tenant)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is not None:
        return found
    token = new_token()
    try:
        async with session.begin_nested():
            session.add(ForwardingAddress(tenant=tenant, token=token, created_at=now))
    except IntegrityError:
        return str((await session.execute(query)).scalar_one())
    return token


async def tenant_by_forwarding_token(session: AsyncSession, token: str) -> str | None:
    query = select(ForwardingAddress.tenant).where(ForwardingAddress.token == token)
    return (await session.execute(query)).scalar_one_or_none()


async def pending_inbound_ids(session: AsyncSession, limit: int) -> list[int]:
    query = (
        select(InboundMessage.id)
        .where(InboundMessage.state == InboundState.PENDING.value)
        .order_by(InboundMessage.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
