"""index thread entries by send request

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Recording a delivery asks whether its request already has an outgoing entry.
    op.create_index("ix_thread_entries_send_request", "thread_entries", ["send_request_id"])


def downgrade() -> None:
    op.drop_index("ix_thread_entries_send_request", table_name="thread_entries")
