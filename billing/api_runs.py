"""HTTP routes of automatic billing runs, their charges, drafts and reports, and of recurring
invoice schedules."""

from __future__ import annotations

from fastapi import APIRouter

from billing import charges, recurring, reports, runs
from billing.api_support import Clock, IdFilter, IdPath, Limit, Offset, Sessions, transaction
from billing.models import Schedule
from billing.run_schemas import (
    ChargeInput,
    ChargeView,
    ConfirmedDraft,
    NotificationView,
    RunKind,
    RunReport,
    RunSettingsInput,
    RunSettingsView,
    RunSummary,
    ScheduleInput,
    ScheduleState,
    ScheduleView,
)
from billing.views import InvoiceView
from mailer.auth import ApiCaller, ApiTenant, TenantQuery


def _schedule_view(schedule: Schedule) -> ScheduleView:
    return ScheduleView.of(schedule, recurring.schedule_totals(schedule))


def runs_router(sessions: Sessions, clock: Clock) -> APIRouter:
    """Billing runs (configure, run now, reports, drafts), charges and recurring schedules."""
    router = APIRouter()

    @router.get("/api/billing-runs/settings", tags=["billing runs"])
    async def get_run_settings(caller: ApiCaller, tenant: TenantQuery = None) -> RunSettingsView:
        """When automatic runs happen, what they make, how customers are told (admins)."""
        scoped = caller.admin_scope(tenant)
        async with transaction(sessions) as session:
            return await runs.run_settings(session, scoped, clock())

    @router.put("/api/billing-runs/settings", tags=["billing runs"])
    async def put_run_settings(
        body: RunSettingsInput, caller: ApiCaller, tenant: TenantQuery = None
    ) -> RunSettingsView:
        """Switch automatic runs on or off and set their cycle, mode and notification."""
        scoped = caller.admin_scope(tenant)
        async with transaction(sessions) as session:
            await runs.configure_runs(session, scoped, body, clock())
            return await runs.run_settings(session, scoped, clock())

    @router.post("/api/billing-runs", status_code=201, tags=["billing runs"])
    async def run_now(tenant: ApiTenant) -> RunReport:
        """Bill every customer's due charges now, with the firm's mode and notification."""
        async with transaction(sessions) as session:
            return await runs.run_now(session, tenant, clock())

    @router.get("/api/billing-runs", tags=["billing runs"])
    async def list_runs(
        tenant: ApiTenant, kind: RunKind | None = None, limit: Limit = 50, offset: Offset = 0
    ) -> list[RunSummary]:
        """The firm's runs, newest first (automatic, manual and recurring)."""
        async with transaction(sessions) as session:
            return await reports.list_runs(
                session, tenant, kind=kind.value if kind else None, limit=limit, offset=offset
            )

    @router.get("/api/billing-runs/drafts", tags=["billing runs"])
    async def list_drafts(
        tenant: ApiTenant, limit: Limit = 100, offset: Offset = 0
    ) -> list[InvoiceView]:
        """Drafts made by runs in draft mode, waiting for staff to confirm them."""
        async with transaction(sessions) as session:
            found = await runs.list_drafts(session, tenant, limit=limit, offset=offset)
            return [InvoiceView.of(invoice) for invoice in found]

    @router.post("/api/billing-runs/drafts/{invoice_id}/confirm", tags=["billing runs"])
    async def confirm_draft(invoice_id: IdPath, tenant: ApiTenant) -> ConfirmedDraft:
        """Issue the draft and notify the customer as the run settings say."""
        async with transaction(sessions) as session:
            invoice, notes = await runs.confirm_draft(session, tenant, invoice_id, clock())
            return ConfirmedDraft(
                invoice=InvoiceView.of(invoice),
                notifications=[NotificationView.of(note) for note in notes],
            )

    @router.get("/api/billing-runs/{run_id}", tags=["billing runs"])
    async def run_report(run_id: IdPath, tenant: ApiTenant) -> RunReport:
        """What the run did and where its emails and texts stand now, failures with reasons."""
        async with transaction(sessions) as session:
            return await reports.run_report(session, tenant, run_id)

    @router.post("/api/charges", status_code=201, tags=["charges"])
    async def add_charge(body: ChargeInput, tenant: ApiTenant) -> ChargeView:
        """Something a customer owes; the next billing run collects it."""
        async with transaction(sessions) as session:
            return ChargeView.of(await charges.add_charge(session, tenant, body, clock()))

    @router.get("/api/charges", tags=["charges"])
    async def list_charges(
        tenant: ApiTenant,
        billed: bool | None = False,
        customer_id: IdFilter = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[ChargeView]:
        """Charges, unbilled ones by default (`billed=true` for billed ones)."""
        async with transaction(sessions) as session:
            found = await charges.list_charges(
                session, tenant, billed=billed, customer_id=customer_id, limit=limit, offset=offset
            )
            return [ChargeView.of(charge) for charge in found]

    @router.post("/api/recurring-schedules", status_code=201, tags=["recurring invoices"])
    async def create_schedule(body: ScheduleInput, tenant: ApiTenant) -> ScheduleView:
        """A recurring invoice; its first invoice is issued and sent now (unless it starts
        later), the next ones on schedule."""
        async with transaction(sessions) as session:
            return _schedule_view(await recurring.create_schedule(session, tenant, body, clock()))

    @router.get("/api/recurring-schedules", tags=["recurring invoices"])
    async def list_schedules(
        tenant: ApiTenant,
        state: ScheduleState | None = None,
        customer_id: IdFilter = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[ScheduleView]:
        """The schedules with their next run and progress, the next to run first."""
        async with transaction(sessions) as session:
            found = await recurring.list_schedules(
                session, tenant,
                state=state.value if state else None, customer_id=customer_id,
                limit=limit, offset=offset,
            )  # fmt: skip
            return [_schedule_view(schedule) for schedule in found]

    @router.get("/api/recurring-schedules/{schedule_id}", tags=["recurring invoices"])
    async def get_schedule(schedule_id: IdPath, tenant: ApiTenant) -> ScheduleView:
        async with transaction(sessions) as session:
            return _schedule_view(await recurring.get_schedule(session, tenant, schedule_id))

    @router.post("/api/recurring-schedules/{schedule_id}/pause", tags=["recurring invoices"])
    async def pause_schedule(schedule_id: IdPath, tenant: ApiTenant) -> ScheduleView:
        """No invoices until resumed."""
        async with transaction(sessions) as session:
            return _schedule_view(
                await recurring.pause_schedule(session, tenant, schedule_id, clock())
            )

    @router.post("/api/recurring-schedules/{schedule_id}/resume", tags=["recurring invoices"])
    async def resume_schedule(schedule_id: IdPath, tenant: ApiTenant) -> ScheduleView:
        """Invoices again from today on; those dated while paused are skipped."""
        async with transaction(sessions) as session:
            return _schedule_view(
                await recurring.resume_schedule(session, tenant, schedule_id, clock())
            )

    @router.post("/api/recurring-schedules/{schedule_id}/cancel", tags=["recurring invoices"])
    async def cancel_schedule(schedule_id: IdPath, tenant: ApiTenant) -> ScheduleView:
        """End the schedule; invoices already issued stay."""
        async with transaction(sessions) as session:
            return _schedule_view(
                await recurring.cancel_schedule(session, tenant, schedule_id, clock())
            )

    return router
