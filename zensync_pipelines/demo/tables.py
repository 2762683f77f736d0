"""The demo catalog's tables. In production these belong to the billing platform, not to zensync."""

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
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
