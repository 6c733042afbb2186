"""Queries of the message log; every one that reads tenant data is scoped by tenant."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Table, bindparam, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from mailer.events import DeliveryStatus, StatusEvent
from mailer.store.models import Base, Recipient, SendRequest, StatusRecord, TemplateSetting


async def find_request(session: AsyncSession, tenant: str, request_id: str) -> SendRequest | None:
    """The request of `tenant` with idempotency key `request_id`, with its recipients."""
    query = (
        select(SendRequest)
        .where(SendRequest.tenant == tenant, SendRequest.request_id == request_id)
        .options(selectinload(SendRequest.recipients))
    )
    return (await session.execute(query)).scalar_one_or_none()


async def find_requests(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], SendRequest]:
    """The stored requests among `keys` (tenant, request_id), without their recipients."""
    wanted = set(keys)
    if not wanted:
        return {}
    query = select(SendRequest).where(
        SendRequest.tenant.in_({tenant for tenant, _ in wanted}),
        SendRequest.request_id.in_({request_id for _, request_id in wanted}),
    )
    found = (await session.execute(query)).scalars()
    return {(r.tenant, r.request_id): r for r in found if (r.tenant, r.request_id) in wanted}


async def insert_all(
    session: AsyncSession, rows: Sequence[Base], *, identified_by: Sequence[str] = ()
) -> None:
    """Insert new rows of one table in few statements; the rows stay transient.

    The statements go to the table, past the ORM's bookkeeping. An attribute left None takes
    its column's default, as it would through the ORM. With `identified_by`, columns unique
    together, each row learns its generated key from the same statement."""
    if not rows:
        return
    model = type(rows[0])
    mapper = inspect(model)
    [key_column] = mapper.primary_key
    key_attribute = mapper.get_property_by_column(key_column).key
    columns = [
        (attr.key, column.key, column.default is not None or column.server_default is not None)
        for attr in mapper.column_attrs
        if not (column := attr.columns[0]).primary_key
    ]
    batches: dict[tuple[str, ...], list[tuple[Base, dict[str, object]]]] = {}
    for row in rows:
        values = {
            column: value
            for key, column, defaulted in columns
            if (value := getattr(row, key)) is not None or not defaulted
        }
        batches.setdefault(tuple(values), []).append((row, values))
    table = _table(model)
    for batch in batches.values():
        statement = insert(table)
        if not identified_by:
            await session.execute(statement, [values for _row, values in batch])
            continue
        # Matched by their unique columns: RETURNING promises no order for a multi-row insert.
        returning = statement.returning(key_column, *(table.c[name] for name in identified_by))
        result = await session.execute(returning, [values for _row, values in batch])
        keys = {tuple(found[1:]): found[0] for found in result}
        for row, _values in batch:
            setattr(row, key_attribute, keys[tuple(getattr(row, name) for name in identified_by)])


async def load_requests(session: AsyncSession, pks: Iterable[int]) -> dict[int, SendRequest]:
    """Requests by primary key, with their recipients (internal: the caller holds their leases)."""
    wanted = set(pks)
    if not wanted:
        return {}
    query = (
        select(SendRequest)
        .where(SendRequest.id.in_(wanted))
        .options(selectinload(SendRequest.recipients))
    )
    return {request.id: request for request in (await session.execute(query)).scalars()}


async def add_status_records(session: AsyncSession, statuses: Iterable[StatusEvent]) -> None:
    """Append status changes to the log (in the caller's transaction, in one statement)."""
    rows = [
        {
            "tenant": status.tenant,
            "request_id": status.request_id,
            "message_id": status.message_id,
            "recipient": status.recipient,
            "status": status.status.value,
            "smtp_code": status.smtp_code,
            "enhanced_status": status.enhanced_status,
            "detail": status.detail,
            "reason": status.reason,
            "hard": status.hard,
            "at": status.at,
        }
        for status in statuses
    ]
    if rows:
        await session.execute(insert(_table(StatusRecord)), rows)


async def status_history(
    session: AsyncSession, tenant: str, request_id: str
) -> Sequence[StatusRecord]:
    """Every status change of one request of one tenant, oldest first."""
    query = (
        select(StatusRecord)
        .where(StatusRecord.tenant == tenant, StatusRecord.request_id == request_id)
        .order_by(StatusRecord.id)
    )
    return (await session.execute(query)).scalars().all()


async def template_setting(
    session: AsyncSession, tenant: str, template: str
) -> TemplateSetting | None:
    """The tenant's override of one template, if it has one."""
    query = select(TemplateSetting).where(
        TemplateSetting.tenant == tenant, TemplateSetting.template == template
    )
    return (await session.execute(query)).scalar_one_or_none()


async def template_overrides(
    session: AsyncSession, tenants: Iterable[str]
) -> dict[tuple[str, str], TemplateSetting]:
    """The template overrides of several tenants, by (tenant, template)."""
    query = select(TemplateSetting).where(TemplateSetting.tenant.in_(set(tenants)))
    return {(row.tenant, row.template): row for row in (await session.execute(query)).scalars()}


async def template_settings(session: AsyncSession, tenant: str) -> Sequence[TemplateSetting]:
    """All of a tenant's template overrides."""
    query = select(TemplateSetting).where(TemplateSetting.tenant == tenant)
    return (await session.execute(query)).scalars().all()


async def save_attempts(
    session: AsyncSession, requests: Sequence[SendRequest], changed: Sequence[Recipient]
) -> None:
    """Write back requests' retry state and lease, and the recipients an attempt changed.

    The caller holds the requests' leases, so no one else changed them meanwhile; recipients
    are found by request and address, since new ones never learn their own keys."""
    await _update_each(session, _table(SendRequest), requests, ("id",), _ATTEMPT_STATE)
    await _update_each(
        session, _table(Recipient), changed, ("send_request_id", "address"), _RECIPIENT_STATE
    )


async def _update_each(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Base],
    where: Sequence[str],
    fields: Sequence[str],
) -> None:
    """One UPDATE for all `rows`: each one's `fields` where its `where` columns match."""
    if not rows:
        return
    # Bound under other names: SQLAlchemy reserves a column's own name for its SET value.
    statement = (
        update(table)
        .where(*(table.c[name] == bindparam(f"_{name}") for name in where))
        .values({name: bindparam(f"_{name}") for name in fields})
    )
    await session.execute(
        statement, [{f"_{name}": getattr(row, name) for name in (*where, *fields)} for row in rows]
    )


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_ATTEMPT_STATE = (
    "attempts", "first_attempt_at", "pending", "next_attempt_at", "lease_owner", "lease_until"
)  # fmt: skip
_RECIPIENT_STATE = ("status", "smtp_code", "enhanced_status", "detail", "updated_at")


def pending_recipients(request: SendRequest) -> list[Recipient]:
    """Recipients that still wait for an attempt."""
    waiting = {DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value}
    return [recipient for recipient in request.recipients if recipient.status in waiting]
