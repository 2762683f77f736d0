"""Write sequence: every write intent of a mapping row gets a number of its own, part of its idempotency key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Keys used to derive from the attempt count, which went back to 0 after each success, so a value set back to an
earlier one (A -> B -> A) derived the first write's key and Stripe replayed its answer instead of writing
(engine/keys.py). Existing rows start at 0: the next intent is number 1, and its key has the new scheme's shape,
which no key derived before can have, so nothing sent in the last 24 hours is reused.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("zensync_external_mappings") as batch:
        batch.add_column(sa.Column("write_seq", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("zensync_external_mappings") as batch:
        batch.drop_column("write_seq")
