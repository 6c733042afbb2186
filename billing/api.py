"""The billing core's HTTP surface: every billing router and page, added to the service's app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from billing.api_documents import documents_router
from billing.api_invoices import PdfSource, invoices_router
from billing.api_payments import payments_router
from billing.api_runs import runs_router
from billing.api_support import Clock, Sessions, install_error_handlers
from billing.run_page import add_run_pages
from mailer.auth import Authenticator


def add_billing(
    app: FastAPI,
    sessions: Sessions,
    clock: Clock,
    *,
    pdfs: PdfSource,
    auth: Authenticator,
    templates_dir: Path,
) -> None:
    """Mount the billing API under /api/ and the run report pages under /billing/."""
    install_error_handlers(app)
    app.include_router(invoices_router(sessions, clock, pdfs))
    app.include_router(payments_router(sessions, clock))
    app.include_router(documents_router(sessions, clock))
    app.include_router(runs_router(sessions, clock))
    add_run_pages(app, sessions, auth, templates_dir, clock)
