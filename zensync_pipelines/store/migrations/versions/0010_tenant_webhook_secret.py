"""A tenant's own Stripe webhook signing secret: `zensync_tenants.stripe_webhook_secret`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

A tenant with its own Stripe account has its own webhook endpoint, signed with that endpoint's secret; the
receiver's per-tenant route `/webhooks/stripe/<tenant>` verifies with it. Like every tenant secret, the column holds
a reference or a Fernet token (store/secrets.py), never the value. Nullable: existing tenants are unchanged.
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("zensync_tenants") as batch:
        batch.add_column(sa.Column("stripe_webhook_secret", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("zensync_tenants") as batch:
        batch.drop_column("stripe_webhook_secret")
