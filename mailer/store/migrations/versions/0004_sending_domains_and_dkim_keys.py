"""sending domains and dkim keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VERIFIED_ONLY = sa.text("status = 'verified'")


def upgrade() -> None:
    op.create_table(
        "sending_domains",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=100), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_check", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant", "domain", name="uq_sending_domains_tenant_domain"),
    )
    # A domain is verified by one tenant at most, however many have added it.
    op.create_index(
        "uq_sending_domains_verified",
        "sending_domains",
        ["domain"],
        unique=True,
        sqlite_where=VERIFIED_ONLY,
        postgresql_where=VERIFIED_ONLY,
    )
    op.create_table(
        "dkim_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("selector", sa.String(length=63), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=True),
        sa.Column("public_txt", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["domain_id"], ["sending_domains.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain_id", "selector", name="uq_dkim_keys_selector"),
    )


def downgrade() -> None:
    op.drop_table("dkim_keys")
    op.drop_index("uq_sending_domains_verified", table_name="sending_domains")
    op.drop_table("sending_domains")
