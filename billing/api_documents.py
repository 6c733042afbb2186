"""HTTP routes for reminders settings, statements, estimates and payment plans."""

from __future__ import annotations

from fastapi import APIRouter

from billing import estimates, payment_plans, statements
from billing.api_support import Clock, IdFilter, IdPath, Limit, Offset, Sessions, transaction
from billing.document_schemas import (
    EmailQueued,
    EstimateInput,
    EstimateSent,
    EstimateUpdate,
    EstimateView,
    PaymentPlanInput,
    PaymentPlanSent,
    PaymentPlanView,
    ReminderSettingsInput,
    ReminderSettingsView,
    StatementRecordView,
    StatementRequest,
    StatementSentView,
    StatementView,
)
from billing.estimates import EstimateState
from billing.firm import firm_settings
from billing.invoicing import get_invoice
from billing.models import Notification
from billing.reminders import configure_reminders
from mailer.auth import ApiCaller, ApiTenant, TenantQuery


def _queued(notification: Notification) -> EmailQueued:
    return EmailQueued(
        request_id=notification.request_id,
        status=notification.status,
        detail=notification.detail,
    )


def documents_router(sessions: Sessions, clock: Clock) -> APIRouter:
    """Reminders settings, statements, estimates and payment plans of the caller's tenant."""
    router = APIRouter()

    @router.get("/api/billing/reminders", tags=["billing settings"])
    async def get_reminders(caller: ApiCaller, tenant: TenantQuery = None) -> ReminderSettingsView:
        """The firm's reminder cadence, thank-you, receipt and monthly statement emails."""
        scoped = caller.admin_scope(tenant)
        async with transaction(sessions) as session:
            return ReminderSettingsView.of(await firm_settings(session, scoped, clock()))

    @router.put("/api/billing/reminders", tags=["billing settings"])
    async def put_reminders(
        body: ReminderSettingsInput, caller: ApiCaller, tenant: TenantQuery = None
    ) -> ReminderSettingsView:
        """Set the reminder cadence (days before and after the due date, 1 to 365, each once)
        and switch the thank-you, receipt and monthly statement emails (admins only)."""
        scoped = caller.admin_scope(tenant)
        async with transaction(sessions) as session:
            settings = await configure_reminders(session, scoped, body, clock())
            return ReminderSettingsView.of(settings)

    @router.post("/api/customers/{customer_id}/statements", tags=["statements"])
    async def make_statement(
        customer_id: IdPath, body: StatementRequest, tenant: ApiTenant
    ) -> StatementView:
        """The customer's statement for a period: opening balance, dated activity with a running
        balance, closing balance; emailed to the customer too when `send` is true."""
        async with transaction(sessions) as session:
            if not body.send:
                statement = await statements.build_statement(
                    session,
                    tenant,
                    customer_id,
                    body.period_start,
                    body.period_end,
                    clock(),
                    currency=body.currency,
                )
                return StatementView.of(statement.record, statement.figures, None)
            statement, notification = await statements.send_statement(
                session,
                tenant,
                customer_id,
                body.period_start,
                body.period_end,
                clock(),
                currency=body.currency,
            )
            sent = StatementSentView(
                statement_id=statement.record.id,
                sequence=statement.record.sequence,
                request_id=notification.request_id,
                status=notification.status,
            )
            return StatementView.of(statement.record, statement.figures, sent)

    @router.get("/api/customers/{customer_id}/statements", tags=["statements"])
    async def list_statements(customer_id: IdPath, tenant: ApiTenant) -> list[StatementRecordView]:
        """The statements emailed to the customer (on request and monthly), newest first."""
        async with transaction(sessions) as session:
            found = await statements.list_statements(session, tenant, customer_id)
            return [StatementRecordView.of(record) for record in found]

    @router.post("/api/estimates", status_code=201, tags=["estimates"])
    async def create_estimate(body: EstimateInput, tenant: ApiTenant) -> EstimateView:
        """A draft estimate: line items or a plain subtotal; issue it to number it."""
        async with transaction(sessions) as session:
            estimate = await estimates.create_estimate(session, tenant, body, clock())
            return EstimateView.of(estimate)

    @router.get("/api/estimates", tags=["estimates"])
    async def list_estimates(
        tenant: ApiTenant,
        state: EstimateState | None = None,
        customer_id: IdFilter = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[EstimateView]:
        async with transaction(sessions) as session:
            found = await estimates.list_estimates(
                session,
                tenant,
                state=state.value if state else None,
                customer_id=customer_id,
                limit=limit,
                offset=offset,
            )
            return [EstimateView.of(estimate) for estimate in found]

    @router.get("/api/estimates/{estimate_id}", tags=["estimates"])
    async def get_estimate(estimate_id: IdPath, tenant: ApiTenant) -> EstimateView:
        async with transaction(sessions) as session:
            return EstimateView.of(await estimates.get_estimate(session, tenant, estimate_id))

    @router.put("/api/estimates/{estimate_id}", tags=["estimates"])
    async def update_estimate(
        estimate_id: IdPath, body: EstimateUpdate, tenant: ApiTenant
    ) -> EstimateView:
        """Replace a draft's content (409 once issued)."""
        async with transaction(sessions) as session:
            estimate = await estimates.update_estimate(session, tenant, estimate_id, body, clock())
            return EstimateView.of(estimate)

    @router.post("/api/estimates/{estimate_id}/issue", tags=["estimates"])
    async def issue_estimate(estimate_id: IdPath, tenant: ApiTenant) -> EstimateView:
        """Number the draft; with the estimate trigger on it is emailed after the grace delay."""
        async with transaction(sessions) as session:
            estimate = await estimates.issue_estimate(session, tenant, estimate_id, clock())
            return EstimateView.of(estimate)

    @router.post("/api/estimates/{estimate_id}/send", tags=["estimates"])
    async def send_estimate(estimate_id: IdPath, tenant: ApiTenant) -> EstimateSent:
        """Email the estimate now (no automatic email follows)."""
        async with transaction(sessions) as session:
            notification = await estimates.send_estimate(session, tenant, estimate_id, clock())
            estimate = await estimates.get_estimate(session, tenant, estimate_id)
            return EstimateSent(estimate=EstimateView.of(estimate), email=_queued(notification))

    @router.post("/api/estimates/{estimate_id}/accept", tags=["estimates"])
    async def accept_estimate(estimate_id: IdPath, tenant: ApiTenant) -> EstimateView:
        """The customer accepted: a draft invoice with the same lines (`invoice_id`)."""
        async with transaction(sessions) as session:
            estimate, _invoice = await estimates.accept_estimate(
                session, tenant, estimate_id, clock()
            )
            return EstimateView.of(estimate)

    @router.post("/api/estimates/{estimate_id}/decline", tags=["estimates"])
    async def decline_estimate(estimate_id: IdPath, tenant: ApiTenant) -> EstimateView:
        async with transaction(sessions) as session:
            estimate = await estimates.decline_estimate(session, tenant, estimate_id, clock())
            return EstimateView.of(estimate)

    @router.post("/api/invoices/{invoice_id}/payment-plan", status_code=201, tags=["payment plans"])
    async def create_payment_plan(
        invoice_id: IdPath, body: PaymentPlanInput, tenant: ApiTenant
    ) -> PaymentPlanView:
        """Installments that pay the open invoice's balance exactly, in date order."""
        async with transaction(sessions) as session:
            plan = await payment_plans.create_payment_plan(
                session, tenant, invoice_id, body.installments, clock()
            )
            invoice = await get_invoice(session, tenant, plan.invoice_id)
            return PaymentPlanView.of(plan, invoice.currency)

    @router.get("/api/invoices/{invoice_id}/payment-plan", tags=["payment plans"])
    async def get_payment_plan(invoice_id: IdPath, tenant: ApiTenant) -> PaymentPlanView:
        async with transaction(sessions) as session:
            plan, invoice = await payment_plans.payment_plan_of_invoice(session, tenant, invoice_id)
            return PaymentPlanView.of(plan, invoice.currency)

    @router.post("/api/payment-plans/{plan_id}/send", tags=["payment plans"])
    async def send_payment_plan(plan_id: IdPath, tenant: ApiTenant) -> PaymentPlanSent:
        """Email the plan to the customer for approval now."""
        async with transaction(sessions) as session:
            notification = await payment_plans.send_payment_plan(session, tenant, plan_id, clock())
            plan = await payment_plans.get_payment_plan(session, tenant, plan_id)
            invoice = await get_invoice(session, tenant, plan.invoice_id)
            return PaymentPlanSent(
                plan=PaymentPlanView.of(plan, invoice.currency), email=_queued(notification)
            )

    return router
