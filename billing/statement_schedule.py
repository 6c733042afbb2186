"""Monthly statements: each firm's customers get last month's statement by email, once."""

from __future__ import annotations

import logging
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.api_support import Clock, Sessions
from billing.calendar import local_day, previous_month
from billing.errors import BillingError
from billing.firm import firm_zone
from billing.ledger import InvoiceState
from billing.models import BillingSettings, CreditNote, Customer, Invoice, Payment, StatementRecord
from billing.money import ZERO
from billing.statements import MONTHLY, build_statement, deliver_statement

logger = logging.getLogger(__name__)


class StatementScheduler:
    """Emails last month's statement to every customer with activity in it or a balance, for
    the firms that want monthly statements; once per period, even with several schedulers."""

    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def run_due(self) -> int:
        """Make the statements due now; the number emailed."""
        now = self._clock()
        work: list[tuple[str, int, str, date, date]] = []
        async with self._sessions() as session:
            firms = await session.execute(
                select(BillingSettings).where(BillingSettings.monthly_statements.is_(True))
            )
            for settings in firms.scalars().all():
                try:
                    start, end = previous_month(local_day(now, firm_zone(settings)))
                except BillingError as broken:
                    logger.warning("statements of %s skipped: %s", settings.tenant, broken.message)
                    continue
                accounts = await _monthly_accounts(session, settings.tenant, start, end)
                work += [(settings.tenant, *account, start, end) for account in accounts]
        made = 0
        for tenant, customer_id, currency, start, end in work:
            made += await self._monthly(tenant, customer_id, currency, start, end, now)
        return made

    async def _monthly(
        self, tenant: str, customer_id: int, currency: str, start: date, end: date, now: datetime
    ) -> int:
        try:
            async with self._sessions() as session, session.begin():
                statement = await build_statement(
                    session, tenant, customer_id, start, end, now, currency=currency
                )
                figures = statement.figures
                if not figures.lines and figures.closing_balance == ZERO:
                    return 0
                await deliver_statement(session, statement, MONTHLY, now)
        except IntegrityError:  # another scheduler made it first
            logger.info("statement of customer %s made by another scheduler", customer_id)
            return 0
        except BillingError as refused:
            logger.warning("no statement for customer %s: %s", customer_id, refused.message)
            return 0
        return 1


async def _monthly_accounts(
    session: AsyncSession, tenant: str, start: date, end: date
) -> list[tuple[int, str]]:
    """(customer, currency) accounts that ever moved and have no monthly statement for the
    period yet; bounced addresses are left out, like reminders, until the email is fixed."""
    deliverable = set(
        (
            await session.execute(
                select(Customer.id).where(
                    Customer.tenant == tenant, Customer.email_undeliverable.is_(False)
                )
            )
        ).scalars()
    )
    movements = (
        select(Invoice.customer_id, Invoice.currency).where(
            Invoice.tenant == tenant, Invoice.state != InvoiceState.DRAFT.value
        ),
        select(Payment.customer_id, Payment.currency).where(Payment.tenant == tenant),
        select(CreditNote.customer_id, CreditNote.currency).where(CreditNote.tenant == tenant),
    )
    accounts: set[tuple[int, str]] = set()
    for query in movements:
        rows = (await session.execute(query.distinct())).all()
        accounts.update(
            (customer, currency) for customer, currency in rows if customer in deliverable
        )
    made = await session.execute(
        select(StatementRecord.customer_id, StatementRecord.currency).where(
            StatementRecord.tenant == tenant,
            StatementRecord.period_start == start,
            StatementRecord.period_end == end,
            StatementRecord.source == MONTHLY,
        )
    )
    return sorted(accounts - {(customer, currency) for customer, currency in made.all()})
