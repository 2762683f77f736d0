"""The tenant registry: `zensync_tenants`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

One row per tenant: its slug, status, and how to reach its Stripe account (its own secret key, or a connected
account id used with the platform's key) and its Salesforce org (login settings, the OAuth refresh-token flow
included). Secret columns hold references or Fernet tokens (store/secrets.py). Unique Stripe account and org:
one tenant each. Nothing else changes: a deployment without tenants behaves as before.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zensync_tenants",
        sa.Column("id", sa.String(63), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="active"),
        sa.Column("name", sa.String(255)),
        sa.Column("stripe_account", sa.String(255)),
        sa.Column("stripe_key", sa.Text),
        sa.Column("salesforce_org", sa.String(18)),
        sa.Column("salesforce_login_url", sa.String(255)),
        sa.Column("salesforce_instance_url", sa.String(255)),
        sa.Column("salesforce_auth_flow", sa.String(40)),
        sa.Column("salesforce_username", sa.String(255)),
        sa.Column("salesforce_client_id", sa.String(255)),
        sa.Column("salesforce_client_secret", sa.Text),
        sa.Column("salesforce_password", sa.Text),
        sa.Column("salesforce_security_token", sa.Text),
        sa.Column("salesforce_refresh_token", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("stripe_account", name="uq_zensync_tenant_stripe_account"),
        sa.UniqueConstraint("salesforce_org", name="uq_zensync_tenant_salesforce_org"),
    )


def downgrade() -> None:
    op.drop_table("zensync_tenants")
