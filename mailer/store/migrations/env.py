"""Alembic environment: migrates the connection handed over by `mailer.store.database.migrate`."""

from __future__ import annotations

from alembic import context

from billing import models as billing_models  # noqa: F401  (registers the billing tables)
from mailer.store import (
    domain_models,  # noqa: F401  (registers the domain tables)
    inbox_models,  # noqa: F401  (registers the inbox tables)
    sms_models,  # noqa: F401  (registers the SMS table)
    tenant_models,  # noqa: F401  (registers the tenant settings tables)
)
from mailer.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through mailer.store.database.migrate (mailer db upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
