"""Tables owned by zensync. Their schema changes only through the Alembic migrations beside this module."""

from sqlalchemy import (BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT for the ever-growing event log.
EventId = BigInteger().with_variant(Integer(), "sqlite")

mappings = Table(
    "zensync_external_mappings",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("catalog", String(100), nullable=False),
    Column("internal_id", String(255), nullable=False),
    Column("system", String(50), nullable=False),
    Column("object_type", String(100), nullable=False),
    Column("external_id", String(255)),
    Column("fingerprint", String(64)),  # of the payload last confirmed by the system
    Column("status", String(20), nullable=False),
    Column("last_error_code", String(100)),
    Column("last_error_field", String(255)),
    Column("last_error", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_run_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("synced_at", DateTime(timezone=True)),
    UniqueConstraint("catalog", "internal_id", "system", "object_type", name="uq_zensync_mapping_row"),
    Index("ix_zensync_mapping_status", "catalog", "system", "status"),
    Index("ix_zensync_mapping_external", "system", "object_type", "external_id"),
)

sync_events = Table(
    "zensync_sync_events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("catalog", String(100), nullable=False),
    Column("internal_id", String(255), nullable=False),
    Column("system", String(50), nullable=False),
    Column("object_type", String(100), nullable=False),
    Column("operation", String(20), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("error_code", String(100)),
    Column("error_field", String(255)),
    Column("error_message", Text),
    Column("attempt", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Index("ix_zensync_events_row", "catalog", "system", "internal_id"),
    Index("ix_zensync_events_time", "catalog", "system", "occurred_at"),
    Index("ix_zensync_events_run", "run_id"),
)
