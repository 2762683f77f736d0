"""The inbox notifies sensors of new events on PostgreSQL: function `zensync_wake` and the inbox's trigger.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

An idle inbox sensor tick waits for a write instead of ending at once (dagster_defs/waking.py). On PostgreSQL the
write signal is a NOTIFY on the deployment's channel (store/wake_triggers.py): a statement-level AFTER INSERT
trigger on `zensync_inbound_events`, so the receiver's INSERT, raw psycopg2 on the event loop, notifies without a
line of its own. Catalog tables get theirs only when their owner asks (`zensync db upgrade --wake-triggers`),
never here: they are the user's, may not exist yet, and a migration that failed on one the role may not alter
would stop zensync's own upgrade. SQLite needs none of it (its files are watched). The downgrade drops the
function with every trigger that calls it, the catalog tables' too.
"""
from alembic import op

from zensync_pipelines.store.wake_triggers import FUNCTION, FUNCTION_SQL, channel_for, current_schema, trigger_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INBOX = "zensync_inbound_events"


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    schema = current_schema(connection)
    op.execute(FUNCTION_SQL)
    op.execute(trigger_sql(INBOX, schema, channel_for(schema), events="INSERT"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}() CASCADE")
