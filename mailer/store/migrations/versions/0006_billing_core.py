"""billing core

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

# Exact decimals: NUMERIC on PostgreSQL, text on SQLite (see billing.models.Amount).
AMOUNT = sa.Numeric(20, 4).with_variant(sa.String(40), "sqlite")

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_auto_sends',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('document', sa.String(length=16), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document', 'document_id', 'template', name='uq_billing_auto_sends')
    )
    with op.batch_alter_table('billing_auto_sends', schema=None) as batch_op:
        batch_op.create_index('ix_billing_auto_sends_due', ['state', 'due_at'], unique=False)

    op.create_table('billing_customers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('cc_emails', sa.JSON(), nullable=False),
    sa.Column('mobile_phone', sa.String(length=16), nullable=True),
    sa.Column('locale', sa.String(length=35), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('email_undeliverable', sa.Boolean(), nullable=False),
    sa.Column('email_undeliverable_reason', sa.Text(), nullable=True),
    sa.Column('email_undeliverable_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('billing_customers', schema=None) as batch_op:
        batch_op.create_index('ix_billing_customers_email', ['tenant', 'email'], unique=False)

    op.create_table('billing_outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id', name='uq_billing_outbox_event')
    )
    with op.batch_alter_table('billing_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_billing_outbox_pending', ['published_at', 'next_attempt_at'], unique=False)

    op.create_table('billing_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('scheduled_on', sa.Date(), nullable=True),
    sa.Column('mode', sa.String(length=24), nullable=True),
    sa.Column('notify', sa.String(length=8), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'kind', 'scheduled_on', name='uq_billing_runs_day')
    )
    with op.batch_alter_table('billing_runs', schema=None) as batch_op:
        batch_op.create_index('ix_billing_runs_tenant', ['tenant', 'started_at'], unique=False)

    op.create_table('billing_settings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('company_name', sa.String(length=200), nullable=False),
    sa.Column('company_email', sa.String(length=320), nullable=True),
    sa.Column('company_address', sa.Text(), nullable=True),
    sa.Column('company_phone', sa.String(length=40), nullable=True),
    sa.Column('company_tax_id', sa.String(length=60), nullable=True),
    sa.Column('portal_url', sa.String(length=500), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('default_currency', sa.String(length=3), nullable=False),
    sa.Column('payment_terms_days', sa.Integer(), nullable=False),
    sa.Column('invoice_prefix', sa.String(length=20), nullable=False),
    sa.Column('estimate_prefix', sa.String(length=20), nullable=False),
    sa.Column('credit_note_prefix', sa.String(length=20), nullable=False),
    sa.Column('next_invoice_number', sa.Integer(), nullable=False),
    sa.Column('next_estimate_number', sa.Integer(), nullable=False),
    sa.Column('next_credit_note_number', sa.Integer(), nullable=False),
    sa.Column('auto_send_grace_seconds', sa.Integer(), nullable=False),
    sa.Column('auto_send_invoice', sa.Boolean(), nullable=False),
    sa.Column('auto_send_estimate', sa.Boolean(), nullable=False),
    sa.Column('auto_send_payment_plan', sa.Boolean(), nullable=False),
    sa.Column('auto_send_credit_note', sa.Boolean(), nullable=False),
    sa.Column('allow_partial_payments', sa.Boolean(), nullable=False),
    sa.Column('prepayments_enabled', sa.Boolean(), nullable=False),
    sa.Column('reminder_days_before', sa.JSON(), nullable=False),
    sa.Column('reminder_days_after', sa.JSON(), nullable=False),
    sa.Column('thank_you_enabled', sa.Boolean(), nullable=False),
    sa.Column('receipts_enabled', sa.Boolean(), nullable=False),
    sa.Column('monthly_statements', sa.Boolean(), nullable=False),
    sa.Column('run_enabled', sa.Boolean(), nullable=False),
    sa.Column('run_cycle', sa.String(length=16), nullable=False),
    sa.Column('run_weekday', sa.Integer(), nullable=False),
    sa.Column('run_month_day', sa.Integer(), nullable=False),
    sa.Column('run_mode', sa.String(length=24), nullable=False),
    sa.Column('run_notify', sa.String(length=8), nullable=False),
    sa.Column('run_enabled_on', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', name='uq_billing_settings_tenant')
    )
    op.create_table('billing_payment_links',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('amount', AMOUNT, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['billing_runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token', name='uq_billing_payment_links_token')
    )
    op.create_table('billing_payments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('amount', AMOUNT, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('prepayment', sa.Boolean(), nullable=False),
    sa.Column('unapplied', AMOUNT, nullable=False),
    sa.Column('refunded', AMOUNT, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('billing_payments', schema=None) as batch_op:
        batch_op.create_index('ix_billing_payments_customer', ['tenant', 'customer_id'], unique=False)
        batch_op.create_index('ix_billing_payments_received', ['tenant', 'received_on'], unique=False)

    op.create_table('billing_schedules',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('frequency', sa.String(length=16), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('total_occurrences', sa.Integer(), nullable=True),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('next_run_on', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('subtotal', AMOUNT, nullable=True),
    sa.Column('discount', AMOUNT, nullable=False),
    sa.Column('tax_rate', AMOUNT, nullable=False),
    sa.Column('payment_terms_days', sa.Integer(), nullable=False),
    sa.Column('payment_method', sa.String(length=16), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('billing_schedules', schema=None) as batch_op:
        batch_op.create_index('ix_billing_schedules_due', ['state', 'next_run_on'], unique=False)

    op.create_table('billing_statements',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('opening_balance', AMOUNT, nullable=False),
    sa.Column('closing_balance', AMOUNT, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'customer_id', 'currency', 'period_start', 'period_end', 'source', 'sequence', name='uq_billing_statements_period')
    )
    op.create_table('billing_invoices',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('subtotal', AMOUNT, nullable=False),
    sa.Column('discount', AMOUNT, nullable=False),
    sa.Column('tax_rate', AMOUNT, nullable=False),
    sa.Column('tax', AMOUNT, nullable=False),
    sa.Column('total', AMOUNT, nullable=False),
    sa.Column('amount_paid', AMOUNT, nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('payment_method', sa.String(length=16), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('schedule_index', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_by', sa.String(length=16), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['billing_runs.id'], ),
    sa.ForeignKeyConstraint(['schedule_id'], ['billing_schedules.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('schedule_id', 'schedule_index', name='uq_billing_invoices_occurrence'),
    sa.UniqueConstraint('tenant', 'number', name='uq_billing_invoices_number')
    )
    with op.batch_alter_table('billing_invoices', schema=None) as batch_op:
        batch_op.create_index('ix_billing_invoices_customer', ['tenant', 'customer_id'], unique=False)
        batch_op.create_index('ix_billing_invoices_state', ['tenant', 'state'], unique=False)

    op.create_table('billing_refunds',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('amount', AMOUNT, nullable=False),
    sa.Column('from_credit', AMOUNT, nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('refunded_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['billing_payments.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('billing_charges',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('amount', AMOUNT, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('charge_date', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('billed', sa.Boolean(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('payment_link_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ),
    sa.ForeignKeyConstraint(['payment_link_id'], ['billing_payment_links.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('billing_charges', schema=None) as batch_op:
        batch_op.create_index('ix_billing_charges_open', ['tenant', 'customer_id', 'billed'], unique=False)

    op.create_table('billing_credit_notes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('total', AMOUNT, nullable=False),
    sa.Column('to_invoice', AMOUNT, nullable=False),
    sa.Column('to_credit', AMOUNT, nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'number', name='uq_billing_credit_notes_number')
    )
    op.create_table('billing_estimates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=True),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('subtotal', AMOUNT, nullable=False),
    sa.Column('discount', AMOUNT, nullable=False),
    sa.Column('tax_rate', AMOUNT, nullable=False),
    sa.Column('tax', AMOUNT, nullable=False),
    sa.Column('total', AMOUNT, nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'number', name='uq_billing_estimates_number')
    )
    op.create_table('billing_invoice_lines',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('quantity', AMOUNT, nullable=False),
    sa.Column('unit_price', AMOUNT, nullable=False),
    sa.Column('amount', AMOUNT, nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('billing_notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('request_id', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['billing_runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'request_id', name='uq_billing_notifications_request')
    )
    with op.batch_alter_table('billing_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_billing_notifications_invoice', ['invoice_id'], unique=False)
        batch_op.create_index('ix_billing_notifications_run', ['run_id'], unique=False)

    op.create_table('billing_payment_plans',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('installments', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id', name='uq_billing_payment_plans_invoice')
    )
    op.create_table('billing_reminders_sent',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id', 'kind', 'days', name='uq_billing_reminders_sent')
    )
    op.create_table('billing_run_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('payment_link_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ),
    sa.ForeignKeyConstraint(['payment_link_id'], ['billing_payment_links.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['billing_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('billing_run_items', schema=None) as batch_op:
        batch_op.create_index('ix_billing_run_items_run', ['run_id'], unique=False)

    op.create_table('billing_applications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('credit_note_id', sa.Integer(), nullable=True),
    sa.Column('amount', AMOUNT, nullable=False),
    sa.Column('applied_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['credit_note_id'], ['billing_credit_notes.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['billing_payments.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('billing_applications', schema=None) as batch_op:
        batch_op.create_index('ix_billing_applications_invoice', ['invoice_id'], unique=False)
        batch_op.create_index('ix_billing_applications_payment', ['payment_id'], unique=False)

    op.create_table('billing_credit_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', AMOUNT, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('credit_note_id', sa.Integer(), nullable=True),
    sa.Column('refund_id', sa.Integer(), nullable=True),
    sa.Column('on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['credit_note_id'], ['billing_credit_notes.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['billing_customers.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['billing_invoices.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['billing_payments.id'], ),
    sa.ForeignKeyConstraint(['refund_id'], ['billing_refunds.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('billing_credit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_billing_credit_customer', ['tenant', 'customer_id', 'currency'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('billing_credit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_credit_customer')

    op.drop_table('billing_credit_entries')
    with op.batch_alter_table('billing_applications', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_applications_payment')
        batch_op.drop_index('ix_billing_applications_invoice')

    op.drop_table('billing_applications')
    with op.batch_alter_table('billing_run_items', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_run_items_run')

    op.drop_table('billing_run_items')
    op.drop_table('billing_reminders_sent')
    op.drop_table('billing_payment_plans')
    with op.batch_alter_table('billing_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_notifications_run')
        batch_op.drop_index('ix_billing_notifications_invoice')

    op.drop_table('billing_notifications')
    op.drop_table('billing_invoice_lines')
    op.drop_table('billing_estimates')
    op.drop_table('billing_credit_notes')
    with op.batch_alter_table('billing_charges', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_charges_open')

    op.drop_table('billing_charges')
    op.drop_table('billing_refunds')
    with op.batch_alter_table('billing_invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_invoices_state')
        batch_op.drop_index('ix_billing_invoices_customer')

    op.drop_table('billing_invoices')
    op.drop_table('billing_statements')
    with op.batch_alter_table('billing_schedules', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_schedules_due')

    op.drop_table('billing_schedules')
    with op.batch_alter_table('billing_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_payments_received')
        batch_op.drop_index('ix_billing_payments_customer')

    op.drop_table('billing_payments')
    op.drop_table('billing_payment_links')
    op.drop_table('billing_settings')
    with op.batch_alter_table('billing_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_runs_tenant')

    op.drop_table('billing_runs')
    with op.batch_alter_table('billing_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_outbox_pending')

    op.drop_table('billing_outbox')
    with op.batch_alter_table('billing_customers', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_customers_email')

    op.drop_table('billing_customers')
    with op.batch_alter_table('billing_auto_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_auto_sends_due')

    op.drop_table('billing_auto_sends')
