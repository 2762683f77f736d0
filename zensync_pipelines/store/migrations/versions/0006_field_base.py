"""Field-level merge: each mapping's base, and the conflicts the merge settled.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

`field_base` on the mapping row (JSON text, target -> value): the last synced value of every outbound field of an
object with a two-way field, written with the fingerprint on every path (outbound outcome, inbound apply, import,
read-back). NULL for existing mappings until their next sync or merge, which behave as before until then; kept
on the mapping row so its key (and a tenant column joining it later) holds the base too.

`zensync_conflicts`: one row per field changed on both sides to different values, with both values and times,
the rule and the winner, so a value that lost can always be found again.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EventId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("zensync_external_mappings") as batch:
        batch.add_column(sa.Column("field_base", sa.Text))
    op.create_table(
        "zensync_conflicts",
        sa.Column("id", EventId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(100), nullable=False, server_default="default"),
        sa.Column("catalog", sa.String(100), nullable=False),
        sa.Column("internal_id", sa.String(255), nullable=False),
        sa.Column("system", sa.String(50), nullable=False),
        sa.Column("object_type", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(255)),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("column", sa.String(255), nullable=False),
        sa.Column("catalog_value", sa.Text),
        sa.Column("system_value", sa.Text),
        sa.Column("catalog_at", sa.DateTime(timezone=True)),
        sa.Column("system_at", sa.DateTime(timezone=True)),
        sa.Column("rule", sa.String(20), nullable=False),
        sa.Column("winner", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_zensync_conflicts_row", "zensync_conflicts", ["tenant", "catalog", "internal_id"])
    op.create_index("ix_zensync_conflicts_time", "zensync_conflicts", ["tenant", "catalog", "system", "recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_zensync_conflicts_time", "zensync_conflicts")
    op.drop_index("ix_zensync_conflicts_row", "zensync_conflicts")
    op.drop_table("zensync_conflicts")
    with op.batch_alter_table("zensync_external_mappings") as batch:
        batch.drop_column("field_base")
