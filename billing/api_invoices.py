"""HTTP routes for a firm's billing settings, its customers and its invoices (with their PDF)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from billing import customers as customer_service
from billing import invoicing
from billing.api_support import Clock, IdFilter, IdPath, Limit, Offset, Sessions, transaction
from billing.firm import firm_settings, firm_zone, switch_template
from billing.ledger import InvoiceState
from billing.money import minor_units
from billing.schemas import CustomerInput, CustomerUpdate, InvoiceInput, InvoiceUpdate
from billing.views import CustomerView, FirmSettingsInput, FirmSettingsView, InvoiceView
from mailer.auth import ApiCaller, ApiTenant, TenantQuery
from mailer.catalog import CATALOG, DocumentKind, resolve_locale
from mailer.errors import RenderError
from mailer.events import TemplateData, TemplateName
from mailer.pdf import document_filename
from mailer.pdf_pool import PdfRenderer

PdfSource = Callable[[], PdfRenderer | None]


class SendResult(BaseModel):
    """The invoice after sending, and the email request it produced."""

    invoice: InvoiceView
    request_id: str = Field(description="The `mail.send` id; its outcome is in /api/messages.")
    status: str = Field(description="queued, or failed with the reason when there is no email.")


def invoices_router(sessions: Sessions, clock: Clock, pdfs: PdfSource) -> APIRouter:
    """Settings, customers and invoices; `pdfs` gives the renderer of the running service."""
    router = APIRouter()

    @router.get("/api/billing/settings", tags=["billing settings"])
    async def get_settings(caller: ApiCaller, tenant: TenantQuery = None) -> FirmSettingsView:
        """The firm's billing identity, numbering, auto-send triggers and payment rules."""
        scoped = caller.admin_scope(tenant)
        async with transaction(sessions) as session:
            return FirmSettingsView.of(await firm_settings(session, scoped, clock()))

    @router.put("/api/billing/settings", tags=["billing settings"])
    async def put_settings(
        body: FirmSettingsInput, caller: ApiCaller, tenant: TenantQuery = None
    ) -> FirmSettingsView:
        """Change the firm's billing settings (admins only)."""
        scoped = caller.admin_scope(tenant)
        minor_units(body.default_currency)
        async with transaction(sessions) as session:
            settings = await firm_settings(session, scoped, clock())
            for name, value in body.model_dump().items():
                setattr(settings, name, str(value) if name == "portal_url" and value else value)
            firm_zone(settings)
            if body.auto_send_payment_plan:  # off stays as the admin set it, for manual sends
                await switch_template(
                    session, scoped, TemplateName.PAYMENT_PLAN_ONBOARDING.value, True
                )
            settings.updated_at = clock()
            return FirmSettingsView.of(settings)

    @router.post("/api/customers", status_code=201, tags=["customers"])
    async def create_customer(body: CustomerInput, tenant: ApiTenant) -> CustomerView:
        """A new customer of the firm."""
        async with transaction(sessions) as session:
            customer = await customer_service.create_customer(session, tenant, body, clock())
            return CustomerView.of(customer)

    @router.get("/api/customers", tags=["customers"])
    async def list_customers(
        tenant: ApiTenant, limit: Limit = 100, offset: Offset = 0
    ) -> list[CustomerView]:
        async with transaction(sessions) as session:
            found = await customer_service.list_customers(
                session, tenant, limit=limit, offset=offset
            )
            return [CustomerView.of(customer) for customer in found]

    @router.get("/api/customers/{customer_id}", tags=["customers"])
    async def get_customer(customer_id: IdPath, tenant: ApiTenant) -> CustomerView:
        async with transaction(sessions) as session:
            customer = await customer_service.get_customer(session, tenant, customer_id)
            return CustomerView.of(customer)

    @router.patch("/api/customers/{customer_id}", tags=["customers"])
    async def update_customer(
        customer_id: IdPath, body: CustomerUpdate, tenant: ApiTenant
    ) -> CustomerView:
        """Change a customer; a new email address clears its undeliverable flag."""
        async with transaction(sessions) as session:
            customer = await customer_service.update_customer(
                session, tenant, customer_id, body, clock()
            )
            return CustomerView.of(customer)

    @router.post("/api/invoices", status_code=201, tags=["invoices"])
    async def create_invoice(body: InvoiceInput, tenant: ApiTenant) -> InvoiceView:
        """A draft invoice: line items, or a plain subtotal; issue it to make it owed."""
        async with transaction(sessions) as session:
            return InvoiceView.of(await invoicing.create_invoice(session, tenant, body, clock()))

    @router.get("/api/invoices", tags=["invoices"])
    async def list_invoices(
        tenant: ApiTenant,
        state: InvoiceState | None = None,
        customer_id: IdFilter = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[InvoiceView]:
        async with transaction(sessions) as session:
            found = await invoicing.list_invoices(
                session,
                tenant,
                state=state.value if state else None,
                customer_id=customer_id,
                limit=limit,
                offset=offset,
            )
            return [InvoiceView.of(invoice) for invoice in found]

    @router.get("/api/invoices/{invoice_id}", tags=["invoices"])
    async def get_invoice(invoice_id: IdPath, tenant: ApiTenant) -> InvoiceView:
        async with transaction(sessions) as session:
            return InvoiceView.of(await invoicing.get_invoice(session, tenant, invoice_id))

    @router.put("/api/invoices/{invoice_id}", tags=["invoices"])
    async def update_invoice(
        invoice_id: IdPath, body: InvoiceUpdate, tenant: ApiTenant
    ) -> InvoiceView:
        """Replace a draft's content (issued invoices change through credit notes)."""
        async with transaction(sessions) as session:
            invoice = await invoicing.update_draft(session, tenant, invoice_id, body, clock())
            return InvoiceView.of(invoice)

    @router.delete("/api/invoices/{invoice_id}", status_code=204, tags=["invoices"])
    async def delete_invoice(invoice_id: IdPath, tenant: ApiTenant) -> Response:
        """Delete a draft."""
        async with transaction(sessions) as session:
            await invoicing.delete_draft(session, tenant, invoice_id)
        return Response(status_code=204)

    @router.post("/api/invoices/{invoice_id}/issue", tags=["invoices"])
    async def issue_invoice(invoice_id: IdPath, tenant: ApiTenant) -> InvoiceView:
        """Number the invoice and make it owed; the new-invoice trigger emails it after the
        grace delay, or on its issue date when that is later."""
        async with transaction(sessions) as session:
            return InvoiceView.of(
                await invoicing.issue_invoice(session, tenant, invoice_id, clock())
            )

    @router.post("/api/invoices/{invoice_id}/send", tags=["invoices"])
    async def send_invoice(invoice_id: IdPath, tenant: ApiTenant) -> SendResult:
        """Email the invoice now (a pending automatic email is dropped)."""
        async with transaction(sessions) as session:
            notification = await invoicing.send_invoice(session, tenant, invoice_id, clock())
            invoice = await invoicing.get_invoice(session, tenant, invoice_id)
            return SendResult(
                invoice=InvoiceView.of(invoice),
                request_id=notification.request_id,
                status=notification.status,
            )

    @router.post("/api/invoices/{invoice_id}/mark-sent", tags=["invoices"])
    async def mark_sent(invoice_id: IdPath, tenant: ApiTenant) -> InvoiceView:
        """Record that the invoice reached the customer another way: no automatic email."""
        async with transaction(sessions) as session:
            return InvoiceView.of(await invoicing.mark_sent(session, tenant, invoice_id, clock()))

    @router.post("/api/invoices/{invoice_id}/void", tags=["invoices"])
    async def void_invoice(invoice_id: IdPath, tenant: ApiTenant) -> InvoiceView:
        """Cancel an issued invoice nothing was paid on."""
        async with transaction(sessions) as session:
            return InvoiceView.of(
                await invoicing.void_invoice(session, tenant, invoice_id, clock())
            )

    @router.get(
        "/api/invoices/{invoice_id}/pdf",
        tags=["invoices"],
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}},
    )
    async def invoice_pdf(invoice_id: IdPath, tenant: ApiTenant) -> Response:
        """The invoice's PDF: the same document its email attaches."""
        renderer = pdfs()
        if renderer is None:
            raise HTTPException(503, "PDF rendering is not running in this process")
        async with transaction(sessions) as session:
            invoice, data = await invoicing.invoice_document(session, tenant, invoice_id, clock())
            locale = resolve_locale(invoice.customer.locale)
        kind = CATALOG[TemplateName.INVOICE_NEW].document or DocumentKind.INVOICE
        context = TemplateData.model_validate(data)
        try:
            attachment = await renderer.render(kind, context, locale)
        except RenderError as failed:
            raise HTTPException(503, f"the PDF could not be made now: {failed}") from failed
        filename = document_filename(kind, context, locale)
        return Response(
            attachment.data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )

    return router
