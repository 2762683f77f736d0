"""Row digests: what a settled row looked like, so an unchanged row is skipped in the database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

One row per (tenant, catalog, system, catalog row): the MD5 of the row's columns as last read and of the spec that
planned it (engine/settled.py). A run reads only catalog rows whose digest differs or is missing; a missing digest
is always safe (the row is planned and compared by fingerprint, as before).
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zensync_row_digests",
        sa.Column("tenant", sa.String(100), nullable=False, server_default="default"),
        sa.Column("catalog", sa.String(100), nullable=False),
        sa.Column("system", sa.String(50), nullable=False),
        sa.Column("internal_id", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "catalog", "system", "internal_id", name="pk_zensync_row_digests"),
    )


def downgrade() -> None:
    op.drop_table("zensync_row_digests")
