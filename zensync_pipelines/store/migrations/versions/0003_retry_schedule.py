"""Retry schedule on the mapping table: whether a failure is transient, and when it is tried again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

`failure_kind` is "transient" (5xx, dropped connection, lock, rate limit: retried automatically with backoff) or
"permanent" (invalid data, validation rules: retried when the row changes); NULL for rows not failed.
`next_retry_at` is when the retry automation may try a transient failure again.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("zensync_external_mappings") as batch:
        batch.add_column(sa.Column("failure_kind", sa.String(20)))
        batch.add_column(sa.Column("next_retry_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("zensync_external_mappings") as batch:
        batch.drop_column("next_retry_at")
        batch.drop_column("failure_kind")
