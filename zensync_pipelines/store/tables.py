"""Tables owned by zensync. Their schema changes only through the Alembic migrations beside this module."""

from sqlalchemy import (BigInteger, Column, DateTime, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table,
                        Text, UniqueConstraint)

metadata = MetaData()

# The tenant of every row written by a store built without one: a single-tenant deployment's only tenant.
DEFAULT_TENANT = "default"

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT for the ever-growing event log.
EventId = BigInteger().with_variant(Integer(), "sqlite")

mappings = Table(
    "zensync_external_mappings",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    # Each store is bound to one tenant (migration 0009); a single-tenant deployment has only "default".
    Column("tenant", String(100), nullable=False, server_default="default"),
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
    Column("failure_kind", String(20)),  # transient | permanent, for failed rows (migration 0003)
    Column("next_retry_at", DateTime(timezone=True)),  # when the retry automation tries a transient failure
    # The last write intent's number: each new intent takes the next, recorded before the call, and its
    # idempotency key derives from it (engine/keys.py; migration 0005).
    Column("write_seq", Integer, nullable=False, server_default="0"),
    Column("field_base", Text),  # JSON: target -> last synced value, for objects with two-way fields (0006)
    # JSON, as field_base: the base an update in flight leaves once confirmed, recorded with its intent (0007)
    Column("pending_base", Text),
    UniqueConstraint("tenant", "catalog", "internal_id", "system", "object_type", name="uq_zensync_mapping_row"),
    Index("ix_zensync_mapping_status", "tenant", "catalog", "system", "status"),
    Index("ix_zensync_mapping_external", "tenant", "system", "object_type", "external_id"),
)

sync_events = Table(
    "zensync_sync_events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("tenant", String(100), nullable=False, server_default="default"),
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
    Index("ix_zensync_events_row", "tenant", "catalog", "system", "internal_id"),
    Index("ix_zensync_events_time", "tenant", "catalog", "system", "occurred_at"),
    Index("ix_zensync_events_run", "run_id"),
)

# The durable inbox of inbound changes (webhooks, outbound messages, polling): one row per event a system reported,
# unique per tenant, system and the system's own event id, so a redelivery stores nothing new. It replaces the
# original plan's `*.sync.inbound` Kafka topics: applying an event and marking it applied share one transaction
# with the catalog write, and there is no broker to run.
inbound_events = Table(
    "zensync_inbound_events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("tenant", String(100), nullable=False, server_default="default"),
    Column("system", String(50), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("event_type", String(100), nullable=False),  # the system's own name, e.g. "invoice.paid"
    Column("catalog", String(100), nullable=False),  # routed at receipt from the specs
    Column("object_type", String(100), nullable=False),  # the spec's object type, e.g. "invoice", "Account"
    Column("external_id", String(255), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),  # the system's time of the change
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(20), nullable=False),  # webhook | poll | readback
    Column("payload", Text, nullable=False),  # the event as received (JSON text)
    Column("status", String(20), nullable=False),  # pending | applied | ignored | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),  # failed events wait until then
    Column("outcome", String(30)),  # applied | echo | stale | conflict_lost | unlinked | ...
    Column("last_error", Text),
    Column("applied_at", DateTime(timezone=True)),
    UniqueConstraint("tenant", "system", "event_id", name="uq_zensync_inbound_event"),
    Index("ix_zensync_inbound_queue", "tenant", "catalog", "system", "status", "id"),
    Index("ix_zensync_inbound_object", "tenant", "system", "object_type", "external_id"),
)

# Small named values zensync keeps between runs: poll cursors, a system's last reported API usage.
state = Table(
    "zensync_state",
    metadata,
    Column("tenant", String(100), nullable=False, server_default="default"),
    Column("scope", String(100), nullable=False),  # e.g. "stripe", "salesforce", "inbound:stripe"
    Column("key", String(255), nullable=False),
    Column("value", Text, nullable=False),  # JSON text
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant", "scope", "key", name="pk_zensync_state"),
)

# Per catalog row and system: a digest of the row as last read, with the spec's own digest mixed in, stored once
# every object of the row was settled by that read (synced, deleted, unchanged or refused as invalid). A run
# compares it in the database and reads only rows whose digest differs, so an unchanged row costs no planning.
# Forgotten whenever the row's mapping changes outside a settled run (drift, unlink, a changed row's new intent).
row_digests = Table(
    "zensync_row_digests",
    metadata,
    Column("tenant", String(100), nullable=False, server_default="default"),
    Column("catalog", String(100), nullable=False),
    Column("system", String(50), nullable=False),
    Column("internal_id", String(255), nullable=False),
    Column("digest", String(32), nullable=False),
    PrimaryKeyConstraint("tenant", "catalog", "system", "internal_id", name="pk_zensync_row_digests"),
)

# Every field changed on both sides to different values (engine/merge.py): both values (JSON) and times, the rule
# and the winner. The losing value stays findable here after the winner overwrote it.
conflicts = Table(
    "zensync_conflicts",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("tenant", String(100), nullable=False, server_default="default"),
    Column("catalog", String(100), nullable=False),
    Column("internal_id", String(255), nullable=False),
    Column("system", String(50), nullable=False),
    Column("object_type", String(100), nullable=False),
    Column("external_id", String(255)),
    Column("field", String(255), nullable=False),  # the system's field (target)
    Column("column", String(255), nullable=False),  # the catalog's column
    Column("catalog_value", Text),
    Column("system_value", Text),
    Column("catalog_at", DateTime(timezone=True)),
    Column("system_at", DateTime(timezone=True)),
    Column("rule", String(20), nullable=False),
    Column("winner", String(20), nullable=False),  # catalog | system
    Column("run_id", String(64)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_zensync_conflicts_row", "tenant", "catalog", "internal_id"),
    Index("ix_zensync_conflicts_time", "tenant", "catalog", "system", "recorded_at"),
)

# The tenants of a multi-tenant deployment (docs/tenants.md) and how to reach each one's Stripe account and
# Salesforce org. Secret columns hold a reference or a Fernet token (store/secrets.py), never a clear value. One
# tenant per Stripe account and per org: zensync's tags (`zenskar_id`, `Zenskar_Id__c`) are unique only there.
tenants = Table(
    "zensync_tenants",
    metadata,
    Column("id", String(63), primary_key=True),  # a slug: it goes into partition keys, run tags, idempotency keys
    Column("status", String(20), nullable=False, server_default="active"),  # active | disabled
    Column("name", String(255)),
    Column("stripe_account", String(255)),  # acct_...: with the platform's key (Stripe-Account), or the own key's
    Column("stripe_key", Text),  # secret: the tenant's own secret key; NULL uses the platform's key
    Column("stripe_webhook_secret", Text),  # secret: signs its own endpoint's events (/webhooks/stripe/<tenant>)
    Column("salesforce_org", String(18)),  # 00D..., always the 18-character form
    Column("salesforce_login_url", String(255)),
    Column("salesforce_instance_url", String(255)),
    Column("salesforce_auth_flow", String(40)),
    Column("salesforce_username", String(255)),
    Column("salesforce_client_id", String(255)),
    Column("salesforce_client_secret", Text),  # secret
    Column("salesforce_password", Text),  # secret
    Column("salesforce_security_token", Text),  # secret
    Column("salesforce_refresh_token", Text),  # secret
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("stripe_account", name="uq_zensync_tenant_stripe_account"),
    UniqueConstraint("salesforce_org", name="uq_zensync_tenant_salesforce_org"),
)
