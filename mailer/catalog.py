"""The template catalog: what each email needs, attaches and does by default (seed 002)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailer.events import TemplateName


class DocumentKind(enum.StrEnum):
    """The PDF documents the service can render."""

    INVOICE = "invoice"
    ESTIMATE = "estimate"
    CREDIT_NOTE = "credit_note"
    RECEIPT = "receipt"
    REFUND = "refund"
    STATEMENT = "statement"


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """How one catalog entry behaves unless the event or tenant says otherwise."""

    name: TemplateName
    requires: tuple[str, ...]
    document: DocumentKind | None
    enabled_by_default: bool = True
    attach_pdf_by_default: bool = True

    @property
    def can_attach_pdf(self) -> bool:
        return self.document is not None


def _spec(
    name: TemplateName,
    requires: tuple[str, ...],
    document: DocumentKind | None,
    *,
    enabled: bool = True,
) -> TemplateSpec:
    return TemplateSpec(
        name=name,
        requires=requires,
        document=document,
        enabled_by_default=enabled,
        attach_pdf_by_default=document is not None,
    )


T = TemplateName
CATALOG: dict[TemplateName, TemplateSpec] = {
    spec.name: spec
    for spec in (
        _spec(T.INVOICE_NEW, ("invoice",), DocumentKind.INVOICE),
        _spec(T.INVOICE_REMINDER, ("invoice",), DocumentKind.INVOICE),
        _spec(T.INVOICE_LATE_REMINDER, ("invoice",), DocumentKind.INVOICE),
        _spec(T.INVOICE_THANK_YOU, ("invoice",), DocumentKind.INVOICE, enabled=False),
        _spec(T.PAYMENT_PLAN_ONBOARDING, ("invoice",), None, enabled=False),
        _spec(T.CREDIT_NOTE_NEW, ("credit_note",), DocumentKind.CREDIT_NOTE),
        _spec(T.PAYMENT_RECEIPT, ("payment",), DocumentKind.RECEIPT),
        _spec(T.PAYMENT_REFUND, ("payment",), DocumentKind.REFUND),
        _spec(T.AUTOPAY_FAILED, ("invoice",), None),
        _spec(T.STATEMENT, ("statement",), DocumentKind.STATEMENT),
        _spec(T.SUBSCRIPTION_CONFIRMATION, ("subscription",), None, enabled=False),
        _spec(T.SUBSCRIPTION_BILLED_SOON, ("subscription",), None, enabled=False),
        _spec(T.SUBSCRIPTION_CANCELLATION, ("subscription",), None, enabled=False),
        _spec(T.ESTIMATE_NEW, ("invoice",), DocumentKind.ESTIMATE),
        _spec(T.PAYMENT_LINK, ("invoice",), None),
    )
}

SUPPORTED_LOCALES = ("en", "fr", "de", "da", "ro")
DEFAULT_LOCALE = "en"


def resolve_locale(requested: str) -> str:
    """The shipped locale closest to `requested` (`fr-CA` -> `fr`), else English."""
    language = requested.replace("_", "-").split("-", 1)[0].lower()
    return language if language in SUPPORTED_LOCALES else DEFAULT_LOCALE
