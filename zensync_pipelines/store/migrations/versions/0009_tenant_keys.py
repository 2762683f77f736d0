"""The tenant in the mapping table's and the sync event log's keys.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Both tables gain `tenant` (default "default"), first in their unique key and indexes, as the inbox, state, digests
and conflicts have it since they were made: two tenants may each have a customer 1, and each store is bound to one
tenant. Existing rows become the default tenant's and keep their meaning; a single-tenant deployment reads and
writes exactly the rows it did. The run index of the event log stays as it is (a run id is unique anyway).
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MAPPINGS, EVENTS = "zensync_external_mappings", "zensync_sync_events"
MAPPING_KEY = ["catalog", "internal_id", "system", "object_type"]
# name -> (table, columns without the tenant)
INDEXES = {
    "ix_zensync_mapping_status": (MAPPINGS, ["catalog", "system", "status"]),
    "ix_zensync_mapping_external": (MAPPINGS, ["system", "object_type", "external_id"]),
    "ix_zensync_events_row": (EVENTS, ["catalog", "system", "internal_id"]),
    "ix_zensync_events_time": (EVENTS, ["catalog", "system", "occurred_at"]),
}


def _tenant() -> sa.Column:
    return sa.Column("tenant", sa.String(100), nullable=False, server_default="default")


def upgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
    # batch: SQLite rebuilds the table to change a constraint; PostgreSQL alters it in place.
    with op.batch_alter_table(MAPPINGS) as batch:
        batch.add_column(_tenant())
        batch.drop_constraint("uq_zensync_mapping_row", type_="unique")
        batch.create_unique_constraint("uq_zensync_mapping_row", ["tenant", *MAPPING_KEY])
    with op.batch_alter_table(EVENTS) as batch:
        batch.add_column(_tenant())
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, ["tenant", *columns])


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
    with op.batch_alter_table(MAPPINGS) as batch:
        batch.drop_constraint("uq_zensync_mapping_row", type_="unique")
        batch.create_unique_constraint("uq_zensync_mapping_row", MAPPING_KEY)
        batch.drop_column("tenant")
    with op.batch_alter_table(EVENTS) as batch:
        batch.drop_column("tenant")
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
