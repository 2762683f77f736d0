"""Pending base: the values a write intent sends, recorded with the intent before the call.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

`pending_base` on the mapping row (JSON text, target -> value, like `field_base`): the base an update of a merged
object leaves once confirmed, written in the intent's transaction and cleared by its confirmed outcome. A kill
between the external write and its bookkeeping leaves the base without the write; the merge reads the pending
base to know the killed write's values as zensync's own instead of judging them a person's edit
(engine/merge.py). NULL for existing rows: nothing is in flight across an upgrade that matters to it.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("zensync_external_mappings") as batch:
        batch.add_column(sa.Column("pending_base", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("zensync_external_mappings") as batch:
        batch.drop_column("pending_base")
