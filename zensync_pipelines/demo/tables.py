"""The demo catalog's tables. In production these belong to the billing platform, not to zensync."""

from sqlalchemy import (BigInteger, Boolean, Column, Date, DateTime, Engine, Index, Integer, MetaData, String, Table,
                        false, inspect, text)

metadata = MetaData()

TENANT = "default"  # the tenant of every row that names none: a single-tenant catalog's rows


def tenant_id() -> Column:
    """The row's tenant (the shipped specs' `tenant_column`). A server default, so that a user's insert that names
    no tenant, and every row of a demo database made before tenants, are the default tenant's. Ids stay unique
    across tenants (the key is `id` alone): a demo database made before keeps its key, and the demo gives each
    tenant its own range of ids (demo/seed.py)."""
    return Column("tenant_id", String(100), nullable=False, server_default=TENANT)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    tenant_id(),
    Column("name", String(400)),
    Column("email", String(320)),
    Column("phone", String(40)),
    Column("address_line1", String(200)),
    Column("address_line2", String(200)),
    Column("city", String(100)),
    Column("state", String(100)),
    Column("postal_code", String(20)),
    Column("country", String(2)),
    Column("currency", String(3)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    # The change sensor's one query per tick walks this index.
    Index("ix_customers_updated_at_id", "updated_at", "id"),
    Index("ix_customers_created_at", "created_at"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    tenant_id(),
    # No foreign key on purpose: the demo keeps a few invoices whose customer is missing, as real imports do.
    Column("customer_id", Integer),
    Column("number", String(40)),
    Column("currency", String(3)),
    Column("status", String(20), nullable=False),  # draft | issued | paid | void | uncollectible
    Column("issued_at", DateTime(timezone=True)),
    # Set from Stripe only (inbound fields): when the invoice was paid or voided there.
    Column("paid_at", DateTime(timezone=True)),
    Column("voided_at", DateTime(timezone=True)),
    Column("due_date", Date),
    Column("memo", String(500)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Index("ix_invoices_updated_at_id", "updated_at", "id"),
    Index("ix_invoices_created_at", "created_at"),
    Index("ix_invoices_customer_id", "customer_id"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    tenant_id(),
    Column("invoice_id", Integer, nullable=False),
    Column("description", String(500)),
    Column("quantity", Integer, nullable=False),
    Column("unit_amount", BigInteger, nullable=False),  # minor units of the invoice's currency
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Reading an invoice's lines, and finding invoices whose lines changed, both walk these.
    Index("ix_invoice_lines_invoice_id", "invoice_id"),
    Index("ix_invoice_lines_updated_at", "updated_at"),
)

plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    tenant_id(),
    Column("name", String(250)),
    Column("description", String(500)),
    Column("currency", String(3)),
    # Minor units of the plan's currency, per month and per year.
    Column("monthly_amount", BigInteger),
    Column("yearly_amount", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Index("ix_plans_updated_at_id", "updated_at", "id"),
    Index("ix_plans_created_at", "created_at"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    tenant_id(),
    # No foreign keys, as for invoices: a subscription whose customer or plan is not synced yet waits for it.
    Column("customer_id", Integer),
    Column("plan_id", Integer),
    Column("interval", String(10)),  # month | year: which of the plan's two prices it pays
    Column("quantity", Integer, nullable=False, default=1),
    # Stripe's statuses (active, past_due, canceled, ...): set by billing when it cancels now, otherwise by Stripe.
    Column("status", String(30), nullable=False),
    Column("started_at", DateTime(timezone=True)),  # from Stripe's start_date
    Column("cancel_at_period_end", Boolean, nullable=False, default=False),
    Column("canceled_at", DateTime(timezone=True)),  # from Stripe
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Index("ix_subscriptions_updated_at_id", "updated_at", "id"),
    Index("ix_subscriptions_created_at", "created_at"),
    Index("ix_subscriptions_customer_id", "customer_id"),
)


payments = Table(
    "payments",
    metadata,
    # Rows are born in Stripe and written by zensync's inbound side (catalogs/payments.py): it numbers them.
    Column("id", Integer, primary_key=True, autoincrement=False),
    tenant_id(),  # the tenant whose Stripe account the charge was made in
    Column("invoice_id", Integer),  # the invoices row the payment settles; none for a charge of no invoice
    Column("customer_id", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),  # minor units of `currency`
    Column("amount_refunded", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),  # succeeded | pending | failed (Stripe's charge statuses)
    # Stripe's Charge.refunded: true once the whole amount is refunded (a partial refund shows in amount_refunded
    # alone). A server default, so a demo database made before it gains it in one statement (add_missing_columns).
    Column("refunded", Boolean, nullable=False, server_default=false()),
    Column("paid_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_payments_updated_at_id", "updated_at", "id"),
    Index("ix_payments_created_at", "created_at"),
    Index("ix_payments_invoice_id", "invoice_id"),
)

def add_tenant_column(engine: Engine) -> list[str]:
    """Give the demo tables of a database made before tenants their `tenant_id` (every row the default tenant's);
    returns the tables changed. ADD COLUMN with a constant default is one statement on SQLite and PostgreSQL."""
    found = inspect(engine)
    changed = [t.name for t in metadata.sorted_tables if found.has_table(t.name)
               and "tenant_id" not in {c["name"] for c in found.get_columns(t.name)}]
    with engine.begin() as connection:
        for name in changed:
            connection.execute(text(f"ALTER TABLE {name} ADD COLUMN tenant_id VARCHAR(100) NOT NULL "
                                    f"DEFAULT '{TENANT}'"))
    return changed


# Columns a demo table gained after its first release, each with a constant default: (table, column, its DDL).
LATER_COLUMNS = (("payments", "refunded", "BOOLEAN NOT NULL DEFAULT false"),)


def add_missing_columns(engine: Engine) -> list[str]:
    """Give the demo tables of a database made before a release their later columns (LATER_COLUMNS, and the
    tenant's: add_tenant_column); returns "table.column" of each added."""
    added = [f"{name}.tenant_id" for name in add_tenant_column(engine)]
    found = inspect(engine)
    missing = [(table, column, ddl) for table, column, ddl in LATER_COLUMNS if found.has_table(table)
               and column not in {c["name"] for c in found.get_columns(table)}]
    with engine.begin() as connection:
        for table, column, ddl in missing:
            connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
    return added + [f"{table}.{column}" for table, column, _ in missing]
