"""External-id mappings and the sync event log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "zensync_external_mappings",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("catalog", sa.String(100), nullable=False),
        sa.Column("internal_id", sa.String(255), nullable=False),
        sa.Column("system", sa.String(50), nullable=False),
        sa.Column("object_type", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(255)),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("last_error_code", sa.String(100)),
        sa.Column("last_error_field", sa.String(255)),
        sa.Column("last_error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_run_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("catalog", "internal_id", "system", "object_type", name="uq_zensync_mapping_row"),
    )
    op.create_index("ix_zensync_mapping_status", "zensync_external_mappings", ["catalog", "system", "status"])
    op.create_index("ix_zensync_mapping_external", "zensync_external_mappings",
                    ["system", "object_type", "external_id"])
    op.create_table(
        "zensync_sync_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("catalog", sa.String(100), nullable=False),
        sa.Column("internal_id", sa.String(255), nullable=False),
        sa.Column("system", sa.String(50), nullable=False),
        sa.Column("object_type", sa.String(100), nullable=False),
        sa.Column("operation", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(100)),
        sa.Column("error_field", sa.String(255)),
        sa.Column("error_message", sa.Text),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_zensync_events_row", "zensync_sync_events", ["catalog", "system", "internal_id"])
    op.create_index("ix_zensync_events_time", "zensync_sync_events", ["catalog", "system", "occurred_at"])
    op.create_index("ix_zensync_events_run", "zensync_sync_events", ["run_id"])


def downgrade() -> None:
    op.drop_table("zensync_sync_events")
    op.drop_table("zensync_external_mappings")
