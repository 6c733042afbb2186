"""Tables of the billing core, in the service's store: one front door to its table modules."""

from billing.models._amount import Amount
from billing.models._automation import (
    AutoSend,
    BillingRun,
    Charge,
    Notification,
    OutboxEvent,
    PaymentLink,
    ReminderSent,
    RunItem,
    Schedule,
    StatementRecord,
)
from billing.models._documents import (
    BillingSettings,
    CreditNote,
    Customer,
    Estimate,
    Invoice,
    InvoiceLine,
    PaymentPlan,
)
from billing.models._money import Application, CreditEntry, Payment, Refund

__all__ = [
    "Amount",
    "Application",
    "AutoSend",
    "BillingRun",
    "BillingSettings",
    "Charge",
    "CreditEntry",
    "CreditNote",
    "Customer",
    "Estimate",
    "Invoice",
    "InvoiceLine",
    "Notification",
    "OutboxEvent",
    "Payment",
    "PaymentLink",
    "PaymentPlan",
    "Refund",
    "ReminderSent",
    "RunItem",
    "Schedule",
    "StatementRecord",
]
