"""The inbound inbox and zensync's small key-value state (poll cursors, last known API budgets).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Both tables carry a `tenant` column (default "default") inside their unique keys: a later multi-tenant zensync
(one Stripe account and Salesforce org per tenant) adds tenants without another change of key.
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "zensync_inbound_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(100), nullable=False, server_default="default"),
        sa.Column("system", sa.String(50), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("catalog", sa.String(100), nullable=False),
        sa.Column("object_type", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(30)),
        sa.Column("last_error", sa.Text),
        sa.Column("applied_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("tenant", "system", "event_id", name="uq_zensync_inbound_event"),
    )
    op.create_index("ix_zensync_inbound_queue", "zensync_inbound_events",
                    ["tenant", "catalog", "system", "status", "id"])
    op.create_index("ix_zensync_inbound_object", "zensync_inbound_events",
                    ["tenant", "system", "object_type", "external_id"])
    op.create_table(
        "zensync_state",
        sa.Column("tenant", sa.String(100), nullable=False, server_default="default"),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "scope", "key", name="pk_zensync_state"),
    )


def downgrade() -> None:
    op.drop_table("zensync_state")
    op.drop_table("zensync_inbound_events")
