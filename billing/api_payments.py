"""HTTP routes for money: payments and refunds, prepayments, customer credit, credit notes."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from billing import credit_notes, payments, refunds
from billing.api_support import Clock, IdFilter, IdPath, Limit, Offset, Sessions, transaction
from billing.documents import money_text
from billing.models import Payment
from billing.payment_schemas import (
    ApplicationView,
    CreditApplicationInput,
    CreditApplicationView,
    CreditMovementView,
    CreditNoteInput,
    CreditNoteSendResult,
    CreditNoteView,
    CustomerCreditView,
    InvoicePaymentInput,
    PaymentDetailView,
    PaymentInput,
    PaymentStatus,
    PaymentView,
    PrepaymentInput,
    RefundInput,
    RefundView,
)
from billing.schemas import PaymentMethod
from mailer.auth import ApiTenant

PAYMENTS, CREDIT, CREDIT_NOTES = "payments", "customer credit", "credit notes"


async def payment_detail(session: AsyncSession, tenant: str, payment: Payment) -> PaymentDetailView:
    """The payment with what it put on invoices (and took back) and its refunds."""
    await session.flush()
    currency = payment.currency
    applied = await refunds.payment_applications(session, tenant, payment.id)
    given_back = await refunds.payment_refunds(session, tenant, payment.id)
    return PaymentDetailView(
        **PaymentView.of(payment).model_dump(),
        applications=[ApplicationView.of(row, number, currency) for row, number in applied],
        refunds=[RefundView.of(refund, currency) for refund in given_back],
    )


def payments_router(sessions: Sessions, clock: Clock) -> APIRouter:
    """Payments, refunds, prepayments, credit and credit notes, for the caller's tenant only."""
    router = APIRouter()

    @router.post("/api/payments", status_code=201, tags=[PAYMENTS])
    async def record_payment(body: PaymentInput, tenant: ApiTenant) -> PaymentDetailView:
        """Record a customer's payment: on the invoices given, else the oldest due first.

        More than the invoices' balance becomes credit if the firm takes prepayments (else 422);
        a receipt is emailed when the firm sends receipts."""
        async with transaction(sessions) as session:
            payment = await payments.record_payment(session, tenant, body, clock())
            return await payment_detail(session, tenant, payment)

    @router.get("/api/payments", tags=[PAYMENTS])
    async def search_payments(
        tenant: ApiTenant,
        customer_id: IdFilter = None,
        invoice_id: IdFilter = None,
        date_from: Annotated[date | None, Query(description="Received on or after.")] = None,
        date_to: Annotated[date | None, Query(description="Received on or before.")] = None,
        method: PaymentMethod | None = None,
        status: PaymentStatus | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[PaymentView]:
        """Payments by customer, invoice, date range, method and status; latest first."""
        async with transaction(sessions) as session:
            found = await refunds.search_payments(
                session,
                tenant,
                customer_id=customer_id,
                invoice_id=invoice_id,
                date_from=date_from,
                date_to=date_to,
                method=method.value if method else None,
                status=status.value if status else None,
                limit=limit,
                offset=offset,
            )
            return [PaymentView.of(payment) for payment in found]

    @router.get("/api/payments/{payment_id}", tags=[PAYMENTS])
    async def get_payment(payment_id: IdPath, tenant: ApiTenant) -> PaymentDetailView:
        async with transaction(sessions) as session:
            payment = await refunds.get_payment(session, tenant, payment_id)
            return await payment_detail(session, tenant, payment)

    @router.post("/api/payments/{payment_id}/refunds", status_code=201, tags=[PAYMENTS])
    async def refund_payment(
        payment_id: IdPath, body: RefundInput, tenant: ApiTenant
    ) -> RefundView:
        """Give back (part of) a payment: first its unused credit, then off its invoices, which
        reopen. 409 when its credit has meanwhile paid other invoices."""
        async with transaction(sessions) as session:
            refund = await refunds.refund_payment(
                session, tenant, payment_id, body.amount, body.reason, clock()
            )
            payment = await refunds.get_payment(session, tenant, payment_id)
            return RefundView.of(refund, payment.currency)

    @router.post("/api/invoices/{invoice_id}/payments", status_code=201, tags=[PAYMENTS])
    async def pay_invoice(
        invoice_id: IdPath, body: InvoicePaymentInput, tenant: ApiTenant
    ) -> PaymentDetailView:
        """Record a payment for this invoice; without an amount, its whole balance."""
        async with transaction(sessions) as session:
            payment = await payments.pay_invoice(session, tenant, invoice_id, body, clock())
            return await payment_detail(session, tenant, payment)

    @router.post("/api/prepayments", status_code=201, tags=[PAYMENTS])
    async def record_prepayment(body: PrepaymentInput, tenant: ApiTenant) -> PaymentDetailView:
        """Money paid in advance, kept as credit; 409 unless the firm switched prepayments on."""
        async with transaction(sessions) as session:
            payment = await payments.record_prepayment(session, tenant, body, clock())
            return await payment_detail(session, tenant, payment)

    @router.post("/api/invoices/{invoice_id}/apply-credit", tags=[CREDIT])
    async def apply_credit(
        invoice_id: IdPath, body: CreditApplicationInput, tenant: ApiTenant
    ) -> CreditApplicationView:
        """Pay (part of) the invoice with the customer's credit."""
        async with transaction(sessions) as session:
            applied = await credit_notes.apply_credit(
                session, tenant, invoice_id, body.amount, clock()
            )
            invoice, currency = applied.invoice, applied.invoice.currency
            return CreditApplicationView(
                invoice_id=invoice.id,
                number=invoice.number,
                state=invoice.state,
                currency=currency,
                applied=money_text(applied.amount, currency),
                invoice_balance=money_text(invoice.balance, currency),
                credit_balance=money_text(applied.credit_balance, currency),
            )

    @router.get("/api/customers/{customer_id}/credit", tags=[CREDIT])
    async def customer_credit(customer_id: IdPath, tenant: ApiTenant) -> CustomerCreditView:
        """The customer's credit per currency, and every movement in and out of it."""
        async with transaction(sessions) as session:
            movements = await credit_notes.credit_movements(session, tenant, customer_id)
            balances = credit_notes.credit_balances(movements)
            return CustomerCreditView(
                customer_id=customer_id,
                balances={code: money_text(amount, code) for code, amount in balances.items()},
                movements=[CreditMovementView.of(entry) for entry in movements],
            )

    @router.post("/api/credit-notes", status_code=201, tags=[CREDIT_NOTES])
    async def create_credit_note(body: CreditNoteInput, tenant: ApiTenant) -> CreditNoteView:
        """A credit note: it pays its invoice's balance first, the rest becomes credit."""
        async with transaction(sessions) as session:
            note = await credit_notes.create_credit_note(session, tenant, body, clock())
            return CreditNoteView.of(note)

    @router.get("/api/credit-notes", tags=[CREDIT_NOTES])
    async def list_credit_notes(
        tenant: ApiTenant,
        customer_id: IdFilter = None,
        invoice_id: IdFilter = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[CreditNoteView]:
        async with transaction(sessions) as session:
            found = await credit_notes.list_credit_notes(
                session,
                tenant,
                customer_id=customer_id,
                invoice_id=invoice_id,
                limit=limit,
                offset=offset,
            )
            return [CreditNoteView.of(note) for note in found]

    @router.get("/api/credit-notes/{credit_note_id}", tags=[CREDIT_NOTES])
    async def get_credit_note(credit_note_id: IdPath, tenant: ApiTenant) -> CreditNoteView:
        async with transaction(sessions) as session:
            note = await credit_notes.get_credit_note(session, tenant, credit_note_id)
            return CreditNoteView.of(note)

    @router.post("/api/credit-notes/{credit_note_id}/send", tags=[CREDIT_NOTES])
    async def send_credit_note(credit_note_id: IdPath, tenant: ApiTenant) -> CreditNoteSendResult:
        """Email the credit note now (each call a new email); no automatic email follows."""
        async with transaction(sessions) as session:
            sent = await credit_notes.send_credit_note(session, tenant, credit_note_id, clock())
            note = await credit_notes.get_credit_note(session, tenant, credit_note_id)
            return CreditNoteSendResult(
                credit_note=CreditNoteView.of(note),
                request_id=sent.request_id,
                status=sent.status,
                detail=sent.detail,
            )

    return router
